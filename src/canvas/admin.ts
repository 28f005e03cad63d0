// What the REST API shows of canvases and connections, and the small checks
// its handlers share. Pure: no Fastify, no I/O.
import type { Canvas } from './canvas.js'
import type { Connection, Role } from '../connection/connection.js'
import { isStreamTopic, streamOf } from '../broker/broker.js'
import { HttpError } from '../http-error.js'
import { parseHexColor } from '../protocol/wire.js'

/** Canvas ids, as in the contract (§1). */
export const CANVAS_ID_PATTERN = '^[a-z0-9-]{1,32}$'
export const HEX_COLOR_PATTERN = '^#[0-9a-fA-F]{6}$'

export { toHexColor } from '../protocol/wire.js'

/** "#rrggbb" (either case) → 0xRRGGBB; the caller validated HEX_COLOR_PATTERN, so anything else is a bug. */
export function fromHexColor (hex: string): number {
  const color = parseHexColor(hex)
  if (color === null) throw new RangeError(`not a #rrggbb colour: ${JSON.stringify(hex)}`)
  return color
}

export interface CanvasSummary { id: string, width: number, height: number, seq: number }
export interface CanvasDetail extends CanvasSummary { epoch: string, createdAt?: string }

export function canvasSummary (c: Canvas): CanvasSummary {
  return { id: c.id, width: c.width, height: c.height, seq: c.seq }
}

/** `seq` is the committed seq: what a snapshot taken now would carry. */
export function canvasDetail (c: Canvas, createdAt: number | undefined): CanvasDetail {
  const out: CanvasDetail = { ...canvasSummary(c), epoch: c.epoch }
  if (createdAt !== undefined) out.createdAt = new Date(createdAt).toISOString()
  return out
}

/** The canvas `id`, or the 404 every route answers for an unknown one. */
export function canvasOr404 (canvases: { get (id: string): Canvas | undefined }, id: string): Canvas {
  const canvas = canvases.get(id)
  if (canvas === undefined) throw new HttpError(404, 'CANVAS_NOT_FOUND', `no canvas ${id}`)
  return canvas
}

/** Why a rect does not fit in the canvas, or null when it does. */
export function rectOutOfBounds (c: Pick<Canvas, 'width' | 'height'>, x: number, y: number, w: number, h: number): string | null {
  if (x + w <= c.width && y + h <= c.height) return null
  const what = w === 1 && h === 1 ? `pixel (${x},${y})` : `rect ${w}x${h} at (${x},${y})`
  return `${what} is outside the ${c.width}x${c.height} canvas`
}

export interface ConnectionView {
  id: number
  user: { id: string, name: string, role: Role }
  role: Role
  canvas: string
  streams: string[]
  ip: string
  connectedAt: string
  messagesIn: number
  messagesOut: number
  bytesOut: number
  bufferedBytes: number
}

/** One live connection for operators; `topics` comes from the hub, which owns subscriptions. */
export function connectionView (conn: Connection, topics: Iterable<string>): ConnectionView {
  const { id, name, role } = conn.user
  return {
    id: conn.id,
    user: { id, name, role },
    role,
    canvas: conn.canvasId,
    streams: [...topics].filter(isStreamTopic).map(streamOf).sort(),
    ip: conn.ip,
    connectedAt: new Date(conn.connectedAt).toISOString(),
    messagesIn: conn.messagesIn,
    messagesOut: conn.messagesOut,
    bytesOut: conn.bytesOut,
    bufferedBytes: conn.bufferedBytes
  }
}

/**
 * RFC 9110 If-None-Match: a list of entity tags, or `*`; weak comparison,
 * so `W/"x"` matches `"x"`.
 */
export function etagMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t.replace(/^W\//, '') === etag
  })
}
