// A typed event emitter with no Node-only imports (the library runs in
// browsers too). A listener that throws does not break the client's state
// machine: the error is rethrown on a fresh task, where the host reports it.

type Listener = (...args: any[]) => void

export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>()

  /** Add a listener; returns the function that removes it. */
  on<K extends keyof Events> (event: K, fn: Events[K]): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, (set = new Set()))
    set.add(fn)
    return () => this.off(event, fn)
  }

  /** Like on(), removed after its first call. */
  once<K extends keyof Events> (event: K, fn: Events[K]): () => void {
    const off = this.on(event, ((...args: unknown[]) => { off(); fn(...args) }) as Events[K])
    return off
  }

  off<K extends keyof Events> (event: K, fn: Events[K]): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    set.delete(fn)
    if (set.size === 0) this.listeners.delete(event)
  }

  /** Whether anyone listens to `event` (work only a listener needs can be skipped). */
  protected listened (event: keyof Events): boolean {
    return this.listeners.has(event)
  }

  protected emit<K extends keyof Events> (event: K, ...args: Parameters<Events[K]>): void {
    const set = this.listeners.get(event)
    if (set === undefined) return
    for (const fn of [...set]) {
      try {
        fn(...args)
      } catch (err) {
        setTimeout(() => { throw err }, 0)
      }
    }
  }
}
