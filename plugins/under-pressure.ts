import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'

/**
 * @fastify/under-pressure samples event-loop delay and memory once a second
 * (`fastify.memoryUsage()`, `fastify.isUnderPressure()`). It refuses nothing
 * by itself: /health/ready names the check over its limit, so a balancer
 * stops sending new clients while /health, /metrics and open sockets carry on.
 */
export default fp(async function pressure (fastify) {
  const c = fastify.config
  await fastify.register(underPressure, {
    maxEventLoopDelay: c.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: c.MAX_HEAP_USED_BYTES,
    maxRssBytes: c.MAX_RSS_BYTES,
    pressureHandler: function letThrough () {}
  })
}, { name: 'under-pressure', dependencies: ['config'] })
