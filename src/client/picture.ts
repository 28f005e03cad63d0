// The canvas as a picture: GET /api/canvases/:id/snapshot.png, public, for
// when there is no live connection to show it (a first visit before sign-in,
// "Just watch" on a server without anonymous viewers, a server that refuses
// the WebSocket because it is full). Refreshed every REFRESH_MS with
// If-None-Match, so an unchanged canvas costs a 304 and nothing else.

export const REFRESH_MS = 5000

/** The ETag `"<epoch>-<seq>"` split (docs/protocol.md, snapshot.png). */
export function parseEtag (etag: string | null): { epoch: string, seq: number } | null {
  const m = /^(?:W\/)?"(.+)-(\d+)"$/.exec(etag ?? '')
  return m === null ? null : { epoch: m[1], seq: Number(m[2]) }
}

export interface PictureHost {
  /** The picture changed: RGB rows, with the epoch and seq it shows. */
  show (width: number, height: number, rgb: Uint8Array, at: { epoch: string, seq: number } | null): void
  /** Whether the server answered (a 200 or 304) this time. */
  reached (ok: boolean): void
}

export class Picture {
  private etag: string | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private busy = false

  constructor (private readonly canvasId: () => string, private readonly host: PictureHost) {}

  get active (): boolean {
    return this.running
  }

  /** Show it now, then keep it fresh until stop(). */
  start (): void {
    if (this.running) return
    this.running = true
    this.refresh().catch(() => {})
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Another canvas: the ETag we hold means nothing there. */
  forget (): void {
    this.etag = null
  }

  /** One fetch, whether running or not; true when the server answered. */
  async refresh (): Promise<boolean> {
    if (this.busy) return true
    this.busy = true
    let ok = false
    try {
      ok = await this.fetchOnce()
    } finally {
      this.busy = false
      this.host.reached(ok)
      clearTimeout(this.timer)
      if (this.running) this.timer = setTimeout(() => { this.refresh().catch(() => {}) }, REFRESH_MS)
    }
    return ok
  }

  private async fetchOnce (): Promise<boolean> {
    const headers: Record<string, string> = {}
    if (this.etag !== null) headers['if-none-match'] = this.etag
    let res: Response
    try {
      res = await fetch(`/api/canvases/${this.canvasId()}/snapshot.png`, { headers, cache: 'no-store' })
    } catch {
      return false
    }
    if (res.status === 304) return true
    if (!res.ok) return false
    const bitmap = await createImageBitmap(await res.blob(), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' })
    const { width, height } = bitmap
    const canvas = document.createElement('canvas')
    canvas.width = width
    canvas.height = height
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!
    ctx.drawImage(bitmap, 0, 0)
    bitmap.close()
    const rgba = ctx.getImageData(0, 0, width, height).data
    const rgb = new Uint8Array(width * height * 3)
    for (let i = 0, o = 0; o < rgb.length; i += 4, o += 3) {
      rgb[o] = rgba[i]
      rgb[o + 1] = rgba[i + 1]
      rgb[o + 2] = rgba[i + 2]
    }
    this.etag = res.headers.get('etag')
    this.host.show(width, height, rgb, parseEtag(this.etag))
    return true
  }
}
