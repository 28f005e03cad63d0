// The one configuration schema. Every limit the server enforces is here, with
// its default, so an operator can read (and the README can document) them all.
// Domain classes receive plain option objects derived from this; nothing else
// reads process.env.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { DEFAULT_HISTORY_MAX_AGE, DEFAULT_NAMESPACES, type NamespaceRules } from './streams/streams.js'
import { ROLES } from './protocol/wire.js'
import { ASYMMETRIC_ALGORITHMS, type AsymmetricAlgorithm } from './auth/keys.js'

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })

export const ConfigSchema = Type.Object({
  PORT: Int(3000, 0, 65535, 'listen port'),
  HOST: Type.String({ default: '0.0.0.0', description: 'listen address' }),
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'SQLite database and generated dev secret' }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'HS256 secret (>= 32 chars); generated into DATA_DIR when unset' })),
  JWT_PREVIOUS_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'the HS256 secret before JWT_SECRET, still accepted (never signed with) until JWT_PREVIOUS_UNTIL' })),
  JWT_PREVIOUS_UNTIL: Type.Optional(Type.String({ minLength: 1, description: 'ISO 8601 date-time after which JWT_PREVIOUS_SECRET is refused; required with it' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'comma-separated accepted iss values; when set every token must carry one (the server signs with the first)' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'comma-separated accepted aud values; when set every token must carry one (the server signs with the first)' })),
  JWT_PUBLIC_KEY_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM public key (or certificate) verifying tokens without a kid, with JWT_ALGORITHMS' })),
  JWT_JWKS_FILE: Type.Optional(Type.String({ minLength: 1, description: 'JWKS file ({"keys":[...]}): a token with a kid is verified by that key only, with JWT_ALGORITHMS' })),
  JWT_ALGORITHMS: Type.String({ default: '', description: `comma-separated asymmetric algorithms the public keys are pinned to (${ASYMMETRIC_ALGORITHMS.join(', ')}); required with a key file` }),
  ALLOWED_ORIGINS: Type.String({ default: '', description: 'comma-separated browser origins allowed to open /ws' }),
  ANONYMOUS: Type.Union([Type.Literal('off'), Type.Literal('read')], { default: 'off', description: 'read: clients without a token watch as viewers' }),
  TICK_MS: Int(50, 5, 10000, 'broadcast tick and group-commit interval'),
  TICK_MAX_MS: Int(1000, 5, 60000, 'adaptive tick: with many clients the tick stretches up to this to stay within TICK_FRAME_BUDGET (never dropping a pixel); TICK_MS or less: fixed tick'),
  TICK_FRAME_BUDGET: Int(60000, 0, 10000000, 'adaptive tick: frames per second written to all clients together (UPDATES, presence, snapshots...); n frames since the last tick make the next one about n / budget s long; 0: off'),
  MAX_CONNECTIONS: Int(20000, 1, 1000000, 'global WebSocket connection cap'),
  MAX_CONNECTIONS_PER_IP: Int(1000, 1, 1000000, 'WebSocket connections per client IP'),
  MAX_CONNECTIONS_PER_USER: Int(20, 1, 1000000, 'WebSocket connections per JWT sub'),
  HANDSHAKE_RATE: Int(50, 1, 1000000, 'new handshakes per IP per second'),
  API_RATE_LIMIT: Int(600, 1, 10000000, 'HTTP requests per IP per minute on each route not limited below (REST reads, health, metrics, docs, static files)'),
  API_WRITE_RATE_LIMIT: Int(120, 1, 10000000, 'admin writes (kick, broadcast, create canvas, fill) per IP per minute, per route'),
  SNAPSHOT_RATE_LIMIT: Int(120, 1, 10000000, 'snapshot.png requests per IP per minute'),
  GUEST_TOKEN_RATE_LIMIT: Int(10, 1, 10000000, 'guest tokens issued per IP per minute'),
  MAX_MESSAGE_BYTES: Int(16384, 64, 16777216, 'largest inbound WebSocket message (1009 beyond)'),
  MAX_JSON_DEPTH: Int(32, 2, 1000, 'deepest nesting of arrays and objects in a text message, the message object included (BAD_MESSAGE beyond)'),
  MAX_STROKE_PIXELS: Int(1024, 1, 9362, 'largest PIXELS op, in pixels'),
  MAX_RECT_PIXELS: Int(4096, 1, 16777216, 'largest RECT op, in pixels'),
  SEND_BUFFER_BYTES: Int(1048576, 16384, 1073741824, 'per-connection cap on pending output'),
  SLOW_CLIENT_TIMEOUT_MS: Int(10000, 100, 3600000, 'how long a connection may stay over SEND_BUFFER_BYTES before 4008'),
  TOKEN_GRACE_MS: Int(5000, 0, 3600000, 'tolerance after a token exp before 4401'),
  BAD_MESSAGE_LIMIT: Int(20, 1, 1000000, 'malformed messages per BAD_MESSAGE_WINDOW_MS before 4400'),
  BAD_MESSAGE_WINDOW_MS: Int(10000, 100, 3600000, 'window of BAD_MESSAGE_LIMIT'),
  RATE_ABUSE_LIMIT: Int(50, 1, 1000000, 'RATE_LIMITED rejections per RATE_ABUSE_WINDOW_MS before 4429'),
  RATE_ABUSE_WINDOW_MS: Int(10000, 100, 3600000, 'window of RATE_ABUSE_LIMIT'),
  WS_MAX_FRAGMENTS: Int(64, 1, 1000000, 'fragments one inbound message may have (1008 beyond)'),
  WS_MAX_BUFFERED_CHUNKS: Int(1024, 1, 10000000, 'socket chunks buffered while parsing one message'),
  WS_MAX_PENDING_AUTO_PONGS: Int(32, 1, 100000, 'unanswered pings from a client that does not read before it is dropped'),
  WS_CLOSE_TIMEOUT_MS: Int(5000, 100, 600000, 'how long a close handshake may take (the peer answering our close frame) before the socket is destroyed'),
  HEARTBEAT_MS: Int(25000, 100, 3600000, 'server ping interval; two missed pongs terminate'),
  UNAVAILABLE_CLOSE_MS: Int(30000, 0, 3600000, 'a connection whose draws keep being answered UNAVAILABLE this long (no draw of it committed meanwhile) is closed with 1013; 0: never'),
  CLOSE_CODE_LABELS: Int(32, 0, 2000, 'distinct close codes outside the documented ones that the closed-connections metric labels by value; further new ones count as other'),
  PIXEL_RATE: Type.Number({ default: 200, exclusiveMinimum: 0, maximum: 10000000, description: 'per-user pixels per second, fractional allowed (0.0033 with PIXEL_BURST=1: one pixel per ~5 minutes); admins are exempt' }),
  PIXEL_BURST: Int(4096, 1, 100000000, 'per-user pixel bucket size; an op larger than this is TOO_LARGE'),
  GUEST_PIXEL_RATE_PER_IP: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000000, description: 'pixels per second all guests of one client IP share, on top of each guest\'s own budget; unset: PIXEL_RATE' })),
  GUEST_PIXEL_BURST_PER_IP: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000000, description: 'bucket size all guests of one client IP share; unset: PIXEL_BURST' })),
  MAX_PALETTE_COLORS: Int(256, 1, 4096, 'most colours a canvas palette may have (POST/PATCH /api/admin/canvases)'),
  MAX_PENDING_PIXELS: Int(1000000, 1000, 100000000, 'pixels buffered per canvas between two commits'),
  MAX_PENDING_SYNCS: Int(16, 1, 10000, 'commit-barrier syncs one connection may have waiting for a synced; beyond, RATE_LIMITED'),
  MAX_REPLAY: Int(100000, 0, 10000000, 'most changes replayed on resume before a snapshot is sent instead'),
  REVERT_MAX_CHANGES: Int(65536, 1, 10000000, 'most changes of the user after since one revert may find (region or not; counted while scanning the log); beyond, 409 TOO_MANY_CHANGES: narrow it with a later since'),
  REVERT_SCAN_SLICE: Int(10000, 1, 10000000, 'seqs of the change log a revert reads per slice, yielding to the event loop between slices (10,000: ~1.5-3 ms a slice, well under a beat)'),
  REVERT_MAX_SCAN: Int(20000000, 1, 1000000000, 'most seqs of the change log after since one revert may scan; beyond, 409 TOO_MANY_CHANGES: narrow it with a later since'),
  MAX_LOCKS_PER_CANVAS: Int(256, 1, 100000, 'region locks per canvas (each non-admin draw on a locked canvas is checked against them); beyond, 409 TOO_MANY_LOCKS'),
  AUDIT_MAX_ENTRIES: Int(100000, 1, 100000000, 'admin actions kept in the audit log (oldest dropped first)'),
  AUDIT_MAX_AGE_DAYS: Int(90, 1, 36500, 'admin actions older than this are dropped from the audit log'),
  AUDIT_BODY_BYTES: Int(512, 0, 65536, 'bytes of a request body (as JSON) kept in its audit entry; longer ones are cut'),
  SNAPSHOT_EVERY: Int(100000, 1, 1000000000, 'changes between stored canvas snapshots'),
  SNAPSHOT_KEEP: Int(100, 1, 1000000, 'stored snapshots kept per canvas (the newest); a past seq can be viewed (snapshot.png?seq=N, timelapse) back to the oldest one kept'),
  TIMELAPSE_MAX_FRAMES: Int(60, 1, 1000, 'most frames in one timelapse (?frames=, 400 beyond)'),
  TIMELAPSE_MAX_BYTES: Int(33554432, 1024, 1073741824, 'largest timelapse image in bytes (413 past it: ask for fewer frames)'),
  TIMELAPSE_CACHE_BYTES: Int(67108864, 0, 4294967296, 'bytes of past-seq PNGs and timelapses kept in memory (LRU)'),
  TIMELAPSE_TTL_MS: Int(60000, 0, 86400000, 'a timelapse is served from the cache this long before it is rebuilt with the newest changes'),
  TIMELAPSE_MAX_QUEUED: Int(8, 0, 10000, 'past-seq PNGs and timelapses waiting to be built (one at a time) at most; beyond, 503'),
  TIMELAPSE_RATE_LIMIT: Int(10, 1, 10000000, 'timelapse requests per IP per minute'),
  DB_BUSY_TIMEOUT_MS: Int(250, 0, 600000, 'SQLite busy timeout; better-sqlite3 waits synchronously, so keep it short'),
  STORAGE_PROBE_MIN_MS: Int(100, 10, 600000, 'after a failed database write, draws are refused and writes paused until a probe (no busy wait) gets the write lock: the first probe after this long, then doubling...'),
  STORAGE_PROBE_MAX_MS: Int(2000, 10, 600000, '...up to this between probes'),
  WAL_CHECKPOINT_BYTES: Int(67108864, 65536, Number.MAX_SAFE_INTEGER, 'bound on the SQLite WAL: over it a checkpoint truncates it (as soon as no reader holds it), and it is cut back to this whenever it starts over'),
  WAL_CHECK_MS: Int(1000, 10, 600000, 'how often the WAL size is checked against WAL_CHECKPOINT_BYTES'),
  NAME_CACHE_SIZE: Int(10000, 0, 10000000, 'painters whose display-name id (migration 008) the commit keeps in memory; beyond, the cache starts over; 0: every batch looks names up in SQLite'),
  BEAT_CHECKPOINT_MS: Int(1000, 0, 600000, 'at most this often, right after a broadcast beat wrote its frames, the WAL is copied back into the database (PASSIVE checkpoint); SQLite then checkpoints inside a commit only past 10,000 WAL pages. 0: SQLite\'s own checkpoint every 1,000 pages, inside the commit before the frames'),
  SHUTDOWN_TIMEOUT_MS: Int(10000, 100, 600000, 'graceful shutdown deadline'),
  MAX_EVENT_LOOP_DELAY_MS: Int(250, 0, 600000, 'event-loop delay (mean over a second) above which /health/ready fails; 0: not checked'),
  MAX_HEAP_USED_BYTES: Int(0, 0, Number.MAX_SAFE_INTEGER, 'V8 heap used above which /health/ready fails; 0: not checked'),
  MAX_RSS_BYTES: Int(0, 0, Number.MAX_SAFE_INTEGER, 'resident set size above which /health/ready fails; 0: not checked'),
  DEFAULT_CANVAS_WIDTH: Int(1024, 1, 4096, 'width of the canvas main created on first boot'),
  DEFAULT_CANVAS_HEIGHT: Int(1024, 1, 4096, 'height of the canvas main created on first boot'),
  MAX_SUBSCRIPTIONS: Int(32, 1, 10000, 'stream subscriptions per connection'),
  MAX_STREAMS: Int(10000, 1, 10000000, 'streams held in memory (least recently used idle ones are dropped)'),
  STREAM_NAMESPACES: Type.String({ default: '', description: 'JSON object of namespace rules, merged over the defaults (alerts, chat); history (count) and historyMaxAge (seconds, 0: none) bound what each stream keeps, also across restarts' }),
  STREAM_FLUSH_MS: Int(50, 5, 60000, 'stream messages are written to SQLite in one transaction this often (a crash loses at most this long of stream history)'),
  STREAM_PENDING_MAX: Int(100000, 100, 10000000, 'stream messages waiting to be written at most (while storage fails); beyond, the oldest waiting are never written'),
  STREAM_LAST_MAX: Int(100, 0, 100000, 'most messages a subscribe may ask for with "last" (TOO_LARGE beyond)'),
  PRESENCE_MAX_LIST: Int(1000, 1, 100000, 'most connections listed in one presence message'),
  PRESENCE_MS: Int(1000, 0, 60000, 'joins, leaves and rosters go out at most this often (each presence message is a frame to every client on the canvas); cursors still go every tick; 0: every tick'),
  TRUST_PROXY: Type.String({ default: '', description: 'comma-separated proxy addresses or CIDRs (or loopback, linklocal, uniquelocal) whose X-Forwarded-For is believed; empty: none, the socket peer is the client' }),
  HTTP_HEADERS_TIMEOUT_MS: Int(10000, 100, 600000, 'a request whose headers (an upgrade included) are not all in by then gets 408 and is closed'),
  HTTP_REQUEST_TIMEOUT_MS: Int(30000, 0, 3600000, 'a request (headers and body) not all in by then gets 408 and is closed; 0: off; >= HTTP_HEADERS_TIMEOUT_MS'),
  HTTP_IDLE_TIMEOUT_MS: Int(30000, 0, 3600000, 'a socket silent this long while a request or response is under way is closed; 0: off'),
  HTTP_KEEPALIVE_TIMEOUT_MS: Int(72000, 1, 3600000, 'an idle keep-alive socket is closed after this (above the 60 s idle timeout of common load balancers)'),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  REDIS_URL: Type.Optional(Type.String({ description: 'redis:// or rediss:// URL of the Redis that nodes share (cluster mode); unset or empty: a node alone' })),
  REDIS_PREFIX: Type.String({ default: 'pixelwire:', pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'prefix of every Redis key of this cluster (nodes sharing a Redis and a prefix share canvases)' }),
  NODE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$', description: 'this node\'s name in the cluster (hello, admin views, logs, metrics); default: host name and PORT' })),
  REDIS_COMMAND_TIMEOUT_MS: Int(2000, 50, 600000, 'a Redis command not answered by then fails (the draw is UNAVAILABLE, never shown)'),
  REDIS_CONNECT_TIMEOUT_MS: Int(5000, 50, 600000, 'a connection attempt to Redis not established by then is dropped and retried'),
  REDIS_RETRY_MAX_MS: Int(2000, 10, 600000, 'longest wait between two reconnection attempts (the backoff doubles from 50 ms up to this)'),
  REDIS_HEALTH_MS: Int(1000, 50, 600000, 'how often each node pings Redis for /health/ready and the redis up metric'),
  REDIS_BOOT_TIMEOUT_MS: Int(60000, 1000, 3600000, 'how long a node waits at boot for Redis to answer before it exits 1'),
  REDIS_STREAM_MAXLEN: Int(100000, 100, 100000000, 'entries (batches) kept in each canvas stream in Redis; a node further behind catches up from a snapshot'),
  CLUSTER_HEARTBEAT_MS: Int(1000, 50, 600000, 'cluster mode: how often a node renews its membership and its connection counts in Redis'),
  CLUSTER_NODE_TTL_MS: Int(5000, 200, 3600000, 'cluster mode: a node not heard of for this long is dead: its connections stop counting against the caps, its presence entries vanish'),
  CLUSTER_REPLY_TIMEOUT_MS: Int(1000, 50, 60000, 'cluster mode: how long a node waits for the other nodes\' answers (delivered counts, the admin connection list, a kick); a node that has not answered by then is left out'),
  CLUSTER_BUDGET_SETTLE_MS: Int(100, 10, 60000, 'cluster mode: how often a node settles the pixels its users spent with the cluster-wide budget in Redis (one round trip for all of them)'),
  CLUSTER_STREAM_TTL_S: Int(86400, 60, 31536000, 'cluster mode: a JSON stream nobody published to for this long is dropped from Redis (its offsets go on above the old ones)'),
  CLUSTER_DELETED_TTL_S: Int(86400, 60, 31536000, 'cluster mode: how long a deleted canvas\'s keys stay in Redis, so a node that was away meets its delete entry; a node away longer fences itself rather than mix it with a canvas re-created under the same id'),
  WORKERS: Int(1, 1, 1024, 'processes serving PORT together (Node cluster module), each a cluster node joined through REDIS_URL (required above 1), with its own SQLite in DATA_DIR/worker-<i>')
})

export type EnvConfig = Static<typeof ConfigSchema>
export interface Config extends EnvConfig {
  /** NODE_ID, or the host name and PORT */
  NODE_ID: string
  /** REDIS_URL when set and not empty: cluster mode; null: a node alone */
  redisUrl: string | null
  JWT_SECRET: string
  /** true when JWT_SECRET came from (or was just written to) DATA_DIR: a dev setup */
  secretGenerated: boolean
  allowedOrigins: string[]
  namespaces: Record<string, NamespaceRules>
  /** TRUST_PROXY as a list; empty: X-Forwarded-For is ignored */
  trustProxy: string[]
  /** JWT_PREVIOUS_UNTIL in ms since the epoch (null without a previous secret) */
  jwtPreviousUntil: number | null
  jwtIssuers: string[]
  jwtAudiences: string[]
  jwtAlgorithms: AsymmetricAlgorithm[]
}

const Role = Type.Enum(ROLES)
const NamespaceSchema = Type.Object({
  subscribe: Type.Array(Role),
  publish: Type.Array(Role),
  maxBytes: Type.Integer({ minimum: 1, maximum: 1048576 }),
  rate: Type.Number({ exclusiveMinimum: 0 }),
  burst: Type.Integer({ minimum: 1 }),
  history: Type.Integer({ minimum: 0, maximum: 100000 }),
  historyMaxAge: Type.Optional(Type.Integer({ minimum: 0, maximum: 31536000 }))
}, { additionalProperties: false })
const NamespacesSchema = Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' }), NamespaceSchema)

/** STREAM_NAMESPACES: each entry replaces (or adds) one namespace's rules. */
function parseNamespaces (json: string): Record<string, NamespaceRules> {
  if (json.trim() === '') return { ...DEFAULT_NAMESPACES }
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch (err) {
    throw new Error(`invalid configuration: STREAM_NAMESPACES is not JSON (${(err as Error).message})`)
  }
  if (!Value.Check(NamespacesSchema, parsed)) {
    const first = [...Value.Errors(NamespacesSchema, parsed)][0]
    throw new Error(`invalid configuration: STREAM_NAMESPACES${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`)
  }
  // historyMaxAge may be left out: a day, like the defaults.
  const given = Object.fromEntries(Object.entries(parsed as Record<string, Omit<NamespaceRules, 'historyMaxAge'> & { historyMaxAge?: number }>)
    .map(([ns, r]) => [ns, { ...r, historyMaxAge: r.historyMaxAge ?? DEFAULT_HISTORY_MAX_AGE }]))
  return { ...DEFAULT_NAMESPACES, ...given }
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * TRUST_PROXY: what Fastify's trustProxy (proxy-addr) accepts as a list,
 * checked here so a typo is a boot error naming the variable, not a
 * proxy that silently counts as untrusted.
 */
function parseTrustProxy (value: string): string[] {
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean)
  for (const entry of entries) {
    if (PROXY_NAMES.has(entry)) continue
    const [addr, bits, ...rest] = entry.split('/')
    const family = isIP(addr)
    const max = family === 6 ? 128 : 32
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max)
    if (family === 0 || !okBits || rest.length > 0) {
      throw new Error(`invalid configuration: TRUST_PROXY entry ${JSON.stringify(entry)} is not an IP address, a CIDR or one of ${[...PROXY_NAMES].join(', ')}`)
    }
  }
  return entries
}

/** Rules between variables that the schema cannot say. */
function checkCombinations (cfg: EnvConfig): void {
  if (cfg.HTTP_REQUEST_TIMEOUT_MS > 0 && cfg.HTTP_HEADERS_TIMEOUT_MS > cfg.HTTP_REQUEST_TIMEOUT_MS) {
    throw new Error('invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)')
  }
  if (cfg.STORAGE_PROBE_MIN_MS > cfg.STORAGE_PROBE_MAX_MS) {
    throw new Error('invalid configuration: STORAGE_PROBE_MIN_MS must not exceed STORAGE_PROBE_MAX_MS')
  }
  if (cfg.REDIS_URL !== undefined && cfg.REDIS_URL !== '') {
    let url: URL | null = null
    try { url = new URL(cfg.REDIS_URL) } catch {}
    // Never echo the value: it may carry a password.
    if (url === null || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
      throw new Error('invalid configuration: REDIS_URL must be a redis:// or rediss:// URL with a host (redis://[user:password@]host[:port][/db])')
    }
  }
  // Workers share nothing but the port: without Redis each would run its own canvas and diverge unseen.
  if (cfg.WORKERS > 1 && (cfg.REDIS_URL === undefined || cfg.REDIS_URL === '')) {
    throw new Error('invalid configuration: WORKERS above 1 needs REDIS_URL (the workers are cluster nodes joined through Redis)')
  }
  if (cfg.CLUSTER_NODE_TTL_MS < 2 * cfg.CLUSTER_HEARTBEAT_MS) {
    throw new Error('invalid configuration: CLUSTER_NODE_TTL_MS must be at least twice CLUSTER_HEARTBEAT_MS (one late heartbeat must not declare a node dead)')
  }
}

const list = (s: string | undefined): string[] => (s ?? '').split(',').map((o) => o.trim()).filter(Boolean)

/** The JWT variables that only make sense together, checked together. */
function jwtSettings (cfg: EnvConfig): Pick<Config, 'jwtPreviousUntil' | 'jwtIssuers' | 'jwtAudiences' | 'jwtAlgorithms'> {
  let jwtPreviousUntil: number | null = null
  if (cfg.JWT_PREVIOUS_SECRET !== undefined || cfg.JWT_PREVIOUS_UNTIL !== undefined) {
    if (cfg.JWT_PREVIOUS_SECRET === undefined || cfg.JWT_PREVIOUS_UNTIL === undefined) {
      throw new Error('invalid configuration: JWT_PREVIOUS_SECRET and JWT_PREVIOUS_UNTIL go together (the overlap must end)')
    }
    jwtPreviousUntil = Date.parse(cfg.JWT_PREVIOUS_UNTIL)
    if (Number.isNaN(jwtPreviousUntil)) throw new Error(`invalid configuration: JWT_PREVIOUS_UNTIL must be an ISO 8601 date-time, got ${cfg.JWT_PREVIOUS_UNTIL}`)
  }
  const jwtAlgorithms = list(cfg.JWT_ALGORITHMS) as AsymmetricAlgorithm[]
  const unknown = jwtAlgorithms.filter((a) => !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a))
  if (unknown.length > 0) throw new Error(`invalid configuration: JWT_ALGORITHMS may list ${ASYMMETRIC_ALGORITHMS.join(', ')}; not ${unknown.join(', ')}`)
  const keyFile = cfg.JWT_PUBLIC_KEY_FILE !== undefined || cfg.JWT_JWKS_FILE !== undefined
  if (keyFile && jwtAlgorithms.length === 0) throw new Error('invalid configuration: JWT_PUBLIC_KEY_FILE and JWT_JWKS_FILE need JWT_ALGORITHMS (the algorithms their keys are pinned to)')
  if (!keyFile && jwtAlgorithms.length > 0) throw new Error('invalid configuration: JWT_ALGORITHMS is set but no JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE')
  return { jwtPreviousUntil, jwtIssuers: list(cfg.JWT_ISSUER), jwtAudiences: list(cfg.JWT_AUDIENCE), jwtAlgorithms }
}

/**
 * Validate an environment (process.env or a test's overrides) into a Config.
 * Throws an Error naming every bad variable; server.ts turns that into exit 1.
 */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  let cfg: EnvConfig
  try {
    cfg = envSchema<EnvConfig>({ schema: ConfigSchema, data: { ...env }, env: false, dotenv: false })
  } catch (err) {
    throw new Error(`invalid configuration: ${(err as Error).message}`)
  }
  checkCombinations(cfg)
  const trustProxy = parseTrustProxy(cfg.TRUST_PROXY)
  const jwt = jwtSettings(cfg) // before a dev secret may be written
  const dataDir = resolve(cfg.DATA_DIR)
  let secretGenerated = false
  let secret = cfg.JWT_SECRET
  if (secret === undefined) {
    secret = readOrCreateSecret(dataDir)
    secretGenerated = true
  }
  const allowedOrigins = list(cfg.ALLOWED_ORIGINS)
  const namespaces = parseNamespaces(cfg.STREAM_NAMESPACES)
  const nodeId = cfg.NODE_ID ?? `${hostname()}:${cfg.PORT}`
  const redisUrl = cfg.REDIS_URL === undefined || cfg.REDIS_URL === '' ? null : cfg.REDIS_URL
  return { ...cfg, NODE_ID: nodeId, redisUrl, DATA_DIR: dataDir, JWT_SECRET: secret, secretGenerated, allowedOrigins, namespaces, trustProxy, ...jwt }
}

/** The dev secret lives beside the database so `npm run token` and the server agree. */
export function readOrCreateSecret (dataDir: string): string {
  const file = join(dataDir, 'jwt-secret')
  try {
    const s = readFileSync(file, 'utf8').trim()
    if (s.length >= 32) return s
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(dataDir, { recursive: true })
  const s = randomBytes(32).toString('hex')
  writeFileSync(file, s + '\n', { mode: 0o600 })
  return s
}
