// What the REST API shows of canvases and connections, and what its
// handlers ask of the domain. No Fastify, no HTTP: refusals are
// DomainErrors, which plugins/errors.ts maps to statuses.
import type { Canvas } from './canvas.js'
import type { Connection, Role } from '../connection/connection.js'
import type { PixelChangeRow } from '../persistence/canvas-store.js'
import { isStreamTopic, streamOf } from '../broker/broker.js'
import type { CanvasService } from './canvas-service.js'
import { DomainError } from '../domain-error.js'
import { parseHexColor, toHexColor } from '../protocol/wire.js'
import { paletteView } from './canvas-state.js'

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
export interface CanvasDetail extends CanvasSummary { epoch: string, createdAt?: string, frozen: boolean, palette: string[] | null }

export function canvasSummary (c: Canvas): CanvasSummary {
  return { id: c.id, width: c.width, height: c.height, seq: c.seq }
}

/** `seq` is the committed seq: what a snapshot taken now would carry. */
export function canvasDetail (c: Canvas, createdAt: number | undefined): CanvasDetail {
  const out: CanvasDetail = { ...canvasSummary(c), epoch: c.epoch, frozen: c.frozen, palette: paletteView(c.palette) }
  if (createdAt !== undefined) out.createdAt = new Date(createdAt).toISOString()
  return out
}

/** The canvas `id`; CANVAS_NOT_FOUND (not_found) when there is none. */
export function requireCanvas (canvases: { get (id: string): Canvas | undefined }, id: string): Canvas {
  const canvas = canvases.get(id)
  if (canvas === undefined) throw new DomainError('not_found', 'CANVAS_NOT_FOUND', `no canvas ${id}`)
  return canvas
}

/** Why a rect does not fit in the canvas, or null when it does. */
export function rectOutOfBounds (c: Pick<Canvas, 'width' | 'height'>, x: number, y: number, w: number, h: number): string | null {
  if (x + w <= c.width && y + h <= c.height) return null
  const what = w === 1 && h === 1 ? `pixel (${x},${y})` : `rect ${w}x${h} at (${x},${y})`
  return `${what} is outside the ${c.width}x${c.height} canvas`
}

type Canvases = Pick<CanvasService, 'get' | 'create' | 'draw'>

/**
 * A palette as given ("#rrggbb", either case, validated by the schema) as
 * colours, duplicates dropped, in order; TOO_LARGE (invalid) past `max` colours.
 */
export function parsePalette (hex: string[], max: number): number[] {
  const colors = [...new Set(hex.map(fromHexColor))]
  if (colors.length > max) throw new DomainError('invalid', 'BAD_REQUEST', `a palette has at most ${max} colours (MAX_PALETTE_COLORS); got ${colors.length}`)
  return colors
}

/**
 * A new white canvas through the API: in cluster mode created in Redis
 * first (CANVAS_EXISTS also when another node has the id), then served by
 * every node; a node alone, createCanvas.
 */
export async function addCanvas (canvases: Pick<CanvasService, 'get' | 'add'>, id: string, width: number, height: number, palette: number[] | null = null): Promise<Canvas> {
  if (canvases.get(id) !== undefined) throw new DomainError('conflict', 'CANVAS_EXISTS', `canvas ${id} exists`)
  return await canvases.add(id, width, height, palette)
}

/** A new white canvas; CANVAS_EXISTS (conflict) when the id is taken. */
export function createCanvas (canvases: Canvases, id: string, width: number, height: number, palette: number[] | null = null): Canvas {
  if (canvases.get(id) !== undefined) throw new DomainError('conflict', 'CANVAS_EXISTS', `canvas ${id} exists`)
  return canvases.create(id, width, height, palette)
}

export interface Fill { x: number, y: number, w: number, h: number, color: number }

/**
 * Queue an admin fill, committed and broadcast at the next tick like any
 * change; returns the pixels queued. OUT_OF_BOUNDS (invalid); TOO_LARGE when
 * more than one batch could ever hold (retrying would never help); the
 * draw's own refusal (a full batch, storage down) as unavailable.
 */
export function fillRect (canvases: Canvases, canvasId: string, fill: Fill, by: string, maxPendingPixels: number): number {
  const canvas = requireCanvas(canvases, canvasId)
  const { x, y, w, h, color } = fill
  const oob = rectOutOfBounds(canvas, x, y, w, h)
  if (oob !== null) throw new DomainError('invalid', 'OUT_OF_BOUNDS', oob)
  // The palette binds admins too: it is what the canvas is made of (freezing does not bind them).
  if (canvas.palette !== null && !canvas.palette.has(color)) throw new DomainError('invalid', 'BAD_COLOR', `${toHexColor(color)} is not in canvas ${canvas.id}'s palette`)
  if (w * h > maxPendingPixels) throw new DomainError('too_large', 'TOO_LARGE', `fill of ${w * h} pixels exceeds the batch of ${maxPendingPixels}; split it`)
  const err = canvases.draw(canvas, { kind: 'rect', x, y, w, h, color }, by, 0)
  if (err !== null) throw new DomainError('unavailable', err.code, err.message, err.retryAfterMs)
  return w * h
}

/** `name`: the painter's display name (its latest stored one), or `user` when none was stored. */
export interface PixelChange { x: number, y: number, color: string, seq: number, user: string, name: string, at: string }

/** The last change of one pixel: OUT_OF_BOUNDS (invalid), or NO_HISTORY (not_found) for one never painted. */
export function lastChange (canvas: Canvas, pixelAt: (canvas: string, x: number, y: number) => PixelChangeRow | undefined, x: number, y: number): PixelChange {
  const oob = rectOutOfBounds(canvas, x, y, 1, 1)
  if (oob !== null) throw new DomainError('invalid', 'OUT_OF_BOUNDS', oob)
  const row = pixelAt(canvas.id, x, y)
  if (row === undefined) throw new DomainError('not_found', 'NO_HISTORY', `pixel (${x},${y}) was never painted`)
  return { x, y, color: toHexColor(row.color), seq: row.seq, user: row.user, name: row.name ?? row.user, at: new Date(row.at).toISOString() }
}

export interface ConnectionView {
  id: number
  /** the node that holds it (NODE_ID) */
  node: string
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

/** One live connection for operators; `topics` comes from the hub, which owns subscriptions; `node` is NODE_ID. */
export function connectionView (conn: Connection, topics: Iterable<string>, node: string): ConnectionView {
  const { id, name, role } = conn.user
  return {
    id: conn.id,
    node,
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
