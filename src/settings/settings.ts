// Live settings (contract §10): limits an admin changes at run time, without
// a restart. Each has the environment's value as its default; a value an
// admin set is stored (SettingsStore: SQLite for a node alone, Redis in a
// cluster, src/broker/cluster-state.ts) and wins over the environment, across restarts, until the admin
// sets it to null (back to the environment's). A change is stored, then
// published as a `settings` event on the settings topic, so every node
// (this one in the same stack, in memory) applies the same effective set.
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { SETTINGS_TOPIC, type Broker } from '../broker/broker.js'
import type { Fanout } from '../hub/fanout.js'

const Rate = Type.Number({ exclusiveMinimum: 0, maximum: 10000000, description: 'pixels per second, fractional allowed (0.0033: one pixel per ~5 minutes)' })
const Burst = Type.Integer({ minimum: 1, maximum: 100000000 })
const Cap = Type.Integer({ minimum: 1, maximum: 1000000 })

/** Every live setting and its bounds (the same as its environment variable's). */
export const SettingsSchema = Type.Object({
  pixelRate: Rate,
  pixelBurst: Burst,
  guestPixelRatePerIp: Rate,
  guestPixelBurstPerIp: Burst,
  maxConnections: Cap,
  maxConnectionsPerIp: Cap,
  maxConnectionsPerUser: Cap
})

export type Settings = Static<typeof SettingsSchema>
export type SettingName = keyof Settings
export const SETTING_NAMES = Object.keys(SettingsSchema.properties) as SettingName[]

/**
 * A value or null, as ONE schema with `type: [T, "null"]`: an anyOf with a
 * null branch would let Ajv's type coercion turn an out-of-bounds 0 into
 * null (back to the environment's value) instead of refusing it.
 */
function orNull (schema: { type?: unknown }): Type.TUnsafe<number | null> {
  return Type.Unsafe<number | null>({ ...schema, type: [schema.type, 'null'] })
}

/** A PATCH: some settings, each a value or null (drop the override: back to the environment's value). */
export const SettingsPatchSchema = Type.Object(
  Object.fromEntries(SETTING_NAMES.map((k) => [k, Type.Optional(orNull(SettingsSchema.properties[k]))])) as Record<SettingName, Type.TOptional<Type.TUnsafe<number | null>>>,
  { minProperties: 1, additionalProperties: false }
)
export type SettingsPatch = Partial<Record<SettingName, number | null>>

/** What the environment says; the guest ones undefined: the same as pixelRate / pixelBurst (live). */
export type SettingDefaults = Omit<Settings, 'guestPixelRatePerIp' | 'guestPixelBurstPerIp'> & {
  guestPixelRatePerIp?: number
  guestPixelBurstPerIp?: number
}

/** Where admins' values are kept. */
export interface SettingsStore {
  /** every stored value, by name (unchecked: a value this code no longer accepts is skipped) */
  load (): Record<string, unknown>
  /** store the values, drop the nulls, in one transaction (cluster: one script in Redis) */
  save (patch: SettingsPatch): void | Promise<void>
}

/**
 * A store whose source of truth is elsewhere (Redis, cluster mode:
 * src/broker/cluster-state.ts): `load` answers from this node's copy,
 * `sync` refreshes it, `adopt` takes a newer copy relayed by another node.
 */
export interface SyncedSettingsStore extends SettingsStore {
  readonly version: number
  sync (): Promise<void>
  /** false when `version` is not newer than the copy's */
  adopt (stored: Record<string, unknown>, version: number): boolean
}

function isSynced (s: SettingsStore): s is SyncedSettingsStore {
  return typeof (s as Partial<SyncedSettingsStore>).sync === 'function'
}

export interface SettingsOptions {
  defaults: SettingDefaults
  store: SettingsStore
  broker: Broker
  fanout: Fanout
  /** apply an effective set on this node (the pixel budget, the connection caps) */
  apply: (s: Settings) => void
  log: { warn (obj: object, msg?: string): void, info (obj: object, msg?: string): void }
}

export function createSettings (opts: SettingsOptions) {
  const { store, broker } = opts
  let current = effective()

  /** The environment's values under the stored ones, each stored one checked against its schema. */
  function effective (): Settings {
    const stored = store.load()
    const out: Partial<Settings> = {}
    for (const name of SETTING_NAMES) {
      const v = stored[name]
      if (v === undefined) continue
      if (Value.Check(SettingsSchema.properties[name], v)) out[name] = v as number
      else opts.log.warn({ setting: name, value: v }, 'stored setting out of bounds; the environment\'s value is used')
    }
    const d = opts.defaults
    const pixelRate = out.pixelRate ?? d.pixelRate
    const pixelBurst = out.pixelBurst ?? d.pixelBurst
    return {
      pixelRate,
      pixelBurst,
      guestPixelRatePerIp: out.guestPixelRatePerIp ?? d.guestPixelRatePerIp ?? pixelRate,
      guestPixelBurstPerIp: out.guestPixelBurstPerIp ?? d.guestPixelBurstPerIp ?? pixelBurst,
      maxConnections: out.maxConnections ?? d.maxConnections,
      maxConnectionsPerIp: out.maxConnectionsPerIp ?? d.maxConnectionsPerIp,
      maxConnectionsPerUser: out.maxConnectionsPerUser ?? d.maxConnectionsPerUser
    }
  }

  opts.fanout.on('settings', function onSettings (_topic, pub): number {
    const e = pub.event
    if (isSynced(store) && e.version !== undefined && e.stored !== undefined) {
      // Cluster: the stored values with their version; an older relay than
      // this node's copy is ignored, and each node computes the effective
      // set over its own environment (the same everywhere in a sane cluster).
      if (!store.adopt(e.stored, e.version) && e.version < store.version) return 0
      current = effective()
    } else {
      current = { ...e.settings } as Settings
    }
    opts.apply(current)
    return 0
  })
  broker.subscribe(SETTINGS_TOPIC)
  opts.apply(current)

  return {
    get current (): Readonly<Settings> { return current },
    /**
     * Store a validated patch, then publish the new effective set (applied
     * here before this resolves, in memory; cluster mode: relayed to every
     * node with the stored values' version).
     */
    async update (patch: SettingsPatch): Promise<Settings> {
      await store.save(patch)
      const next = effective()
      const cluster = isSynced(store) ? { stored: store.load(), version: store.version } : {}
      broker.publish(SETTINGS_TOPIC, { type: 'settings', settings: next, ...cluster })
      opts.log.info({ settings: next }, 'settings changed')
      return next
    },
    /** Cluster: load the stored values again (boot, and after Redis was away: the relays missed meanwhile) and apply them. */
    async reload (): Promise<void> {
      if (!isSynced(store)) return
      await store.sync()
      const next = effective()
      if (JSON.stringify(next) === JSON.stringify(current)) return
      current = next
      opts.apply(current)
      opts.log.info({ settings: current, version: store.version }, 'settings loaded from the cluster')
    },
    close (): void { broker.unsubscribe(SETTINGS_TOPIC) }
  }
}

export type LiveSettings = ReturnType<typeof createSettings>
