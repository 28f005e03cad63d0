import fp from 'fastify-plugin'
import { createTimelapse, type Timelapse } from '../src/canvas/timelapse.js'
import { PIXEL_RECORD_BYTES } from '../src/protocol/wire.js'

declare module 'fastify' {
  interface FastifyInstance { timelapse: Timelapse }
}

/** Past canvases: snapshot.png?seq=N and the timelapse APNG, from stored snapshots and the log (src/canvas/timelapse.ts). */
export default fp(async function timelapse (fastify) {
  const c = fastify.config
  fastify.decorate('timelapse', createTimelapse({
    store: fastify.canvasStore,
    // Two stored snapshots are SNAPSHOT_EVERY changes apart plus at most one
    // batch (a snapshot is stored after the batch that crosses the mark; a
    // batch is at most half a send buffer of records: canvas-service's
    // frameRecords), or up to twice that when the stored one was a
    // compression already under way at an older seq (room.ts). So any seq
    // since the oldest snapshot kept is within this; a failed snapshot save
    // can leave a longer gap, whose seqs answer 410.
    maxReplay: 2 * (c.SNAPSHOT_EVERY + Math.floor(c.SEND_BUFFER_BYTES / 2 / PIXEL_RECORD_BYTES)),
    maxFrames: c.TIMELAPSE_MAX_FRAMES,
    maxBytes: c.TIMELAPSE_MAX_BYTES,
    cacheBytes: c.TIMELAPSE_CACHE_BYTES,
    ttlMs: c.TIMELAPSE_TTL_MS,
    maxQueued: c.TIMELAPSE_MAX_QUEUED
  }))
}, { name: 'timelapse', dependencies: ['config', 'sqlite'] })
