// The broker of a node in a cluster (REDIS_URL): the canvas order lives in
// Redis (redis-order.ts), everything else is, for now, what the in-memory
// broker does on this node.
//
// Commits never go through publish here: the canvas service appends to the
// sequencer, and `follow` publishes every batch of the cluster's order, read
// back from Redis and stored in this node's log, to this node's fan-out, in
// order. Presence, cursors, broadcasts and stream messages are still
// delivered on the node that publishes them (routing them through Redis is
// the next part of issue 12: streams, presence, kicks, bans, budgets).
import { canvasTopic, type Broker } from './broker.js'
import { createMemoryBroker, type MemoryBrokerOptions } from './memory.js'
import type { ClusterCanvasRow, RedisOrder } from './redis-order.js'

export interface RedisBroker extends Broker {
  readonly sequencer: RedisOrder
  /**
   * Start reading the cluster's order into the fan-out (after the rooms are
   * loaded): batches and lifecycle changes on the canvas's topic; canvases
   * created on other nodes to `onCanvas` (the service makes their rooms).
   */
  follow (onCanvas: (row: ClusterCanvasRow) => void): void
}

export function createRedisBroker (order: RedisOrder, opts: MemoryBrokerOptions = {}): RedisBroker {
  const local = createMemoryBroker(opts)
  return {
    sequencer: order,
    follow (onCanvas) { order.start((event) => { local.publish(canvasTopic(event.canvas), event) }, onCanvas) },
    start: (h) => local.start(h),
    subscribe: (topic) => local.subscribe(topic),
    unsubscribe: (topic) => local.unsubscribe(topic),
    publish: (topic, event, o) => local.publish(topic, event, o),
    // local only: the cluster broker (cluster-broker.ts) wraps this one for the other nodes
    deliver: (topic, event, o) => local.deliver(topic, event, o),
    prepare: (topic, n) => local.prepare(topic, n),
    history: (topic, since) => local.history(topic, since),
    last: (topic, n) => local.last(topic, n),
    histories: () => local.histories(),
    presence: local.presence
  }
}
