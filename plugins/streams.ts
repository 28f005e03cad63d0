import fp from 'fastify-plugin'
import { createStreams, type Streams } from '../src/streams/streams.js'
import type { Connection } from '../src/connection/connection.js'
import { Disconnect } from '../src/connection/disconnect.js'

declare module 'fastify' {
  interface FastifyInstance { streams: Streams<Connection> }
}

/** Named JSON streams (alerts, chat, ...): history in the broker (MAX_STREAMS held), delivery by the hub. */
export default fp(async function streams (fastify) {
  const c = fastify.config
  const streams = createStreams<Connection>({
    hub: fastify.hub,
    broker: fastify.broker,
    fanout: fastify.fanout,
    namespaces: c.namespaces,
    maxSubscriptions: c.MAX_SUBSCRIPTIONS,
    maxLast: c.STREAM_LAST_MAX,
    // A subscriber whose buffer is full cannot skip a stream message: it
    // reconnects and resumes with `since`.
    onSlow: (conn) => { conn.close(Disconnect.SLOW_CONSUMER) },
    meter: fastify.meter
  })
  const sweep = setInterval(() => streams.sweep(), 10_000)
  fastify.addHook('onClose', function stopStreams () { clearInterval(sweep) })
  fastify.decorate('streams', streams)
}, { name: 'streams', dependencies: ['config', 'broker', 'hub', 'metrics'] })
