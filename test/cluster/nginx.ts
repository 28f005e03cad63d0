// Debian's nginx (/usr/sbin/nginx) in front of cluster nodes, running the
// shipped docs/deploy/nginx.conf: the test config is generated from that file
// by replacing only what is site-specific (node addresses, listen address,
// proxy_bind address, user, log paths) and adding what a non-root nginx of
// the test's own needs (pid and temp paths in a temp dir). Every replacement
// must match exactly the lines it expects, so a change of the shipped file's
// shape fails here loudly instead of testing something else.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { ROOT } from '../../src/paths.js'
import { tempDir } from '../helper.js'
import { spawnProcess, within, type Proc } from '../process.js'
import { freePort, until } from './redis.js'

export const NGINX = '/usr/sbin/nginx'
export const SHIPPED_CONF = join(ROOT, 'docs/deploy/nginx.conf')

export interface NginxSite {
  /** host:port nginx listens on */
  listen: string
  /** host:port of every node */
  upstreams: string[]
  /** the address nginx connects to the nodes from (the nodes' TRUST_PROXY) */
  bind: string
  /** pid, logs and temp files */
  dir: string
  /** the user worker processes run as (only used when nginx starts as root) */
  user: string
}

/** Replace the lines matching `re` (which must be exactly `count` of them) using `to`. */
function replaceLines (conf: string, re: RegExp, count: number, to: (line: string, i: number) => string, what: string): string {
  const lines = conf.split('\n')
  const hits = lines.flatMap((l, i) => re.test(l) ? [i] : [])
  if (hits.length !== count) throw new Error(`${SHIPPED_CONF}: expected ${count} line(s) of ${what}, found ${hits.length}`)
  hits.forEach((at, i) => { lines[at] = to(lines[at], i) })
  return lines.join('\n')
}

/** The shipped config made runnable for `site`, changed only where said above. */
export function nginxConfig (shipped: string, site: NginxSite): string {
  for (const d of ['pid', 'daemon', 'client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path']) {
    if (new RegExp(`^\\s*${d}\\s`, 'm').test(shipped)) throw new Error(`${SHIPPED_CONF} sets ${d}: the test sets its own`)
  }
  let conf = shipped
  conf = replaceLines(conf, /^user \S+;$/, 1, () => `user ${site.user};`, 'user')
  conf = replaceLines(conf, /^error_log \S+ (\w+);$/, 1, (l) => l.replace(/^error_log \S+/, `error_log ${join(site.dir, 'error.log')}`), 'error_log')
  conf = replaceLines(conf, /^\s*access_log \S+ pixelwire;$/, 1, (l) => l.replace(/access_log \S+/, `access_log ${join(site.dir, 'access.log')}`), 'access_log')
  conf = replaceLines(conf, /^\s*listen 80;$/, 1, (l) => l.replace('80', site.listen), 'listen 80')
  conf = replaceLines(conf, /^\s*proxy_bind \S+;$/, 1, (l) => l.replace(/proxy_bind \S+;/, `proxy_bind ${site.bind};`), 'proxy_bind')
  // The upstream's node lines: the shipped three become the test's nodes, each
  // with the parameters of the shipped ones (max_fails, fail_timeout).
  const node = /^(\s*)server \d+\.\d+\.\d+\.\d+:\d+((?: \S+)*);$/
  const first = conf.split('\n').find((l) => node.test(l))
  if (first === undefined) throw new Error(`${SHIPPED_CONF}: no server lines in the upstream`)
  const [, indent, params] = node.exec(first)!
  conf = replaceLines(conf, node, 3, (_l, i) => i === 0 ? site.upstreams.map((u) => `${indent}server ${u}${params};`).join('\n') : '\u0000', 'upstream server')
  conf = conf.split('\n').filter((l) => l !== '\u0000').join('\n')
  // What Debian's compiled-in defaults put under /run and /var/lib/nginx.
  conf = `pid ${join(site.dir, 'nginx.pid')};\n` + conf
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${join(site.dir, `${k}-temp`)};`).join('\n')
  conf = replaceLines(conf, /^http \{$/, 1, (l) => `${l}\n${temps}`, 'http {')
  return conf
}

export interface Nginx {
  url: string
  port: number
  dir: string
  conf: string
  proc: Proc
  /** its error log so far */
  errors (): string
  /** the access log so far */
  access (): string
  /** fast stop (SIGTERM: open WebSockets are cut, a graceful SIGQUIT would wait for them), waiting for the master to exit */
  stop (): Promise<void>
}

/**
 * nginx on a free loopback port with the shipped config for `upstreams`,
 * connecting to them from `bind`; `-g 'daemon off;'` keeps the master our
 * child. Its own process group: a failed test's teardown kills the workers
 * with the master. Ready when a request through it reaches a node.
 */
export async function startNginx (t: Test, upstreams: string[], bind: string): Promise<Nginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} not found: install Debian's nginx (.ci/run does)`)
  const port = await freePort()
  const dir = tempDir(t, 'pixelwire-nginx-')
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig(readFileSync(SHIPPED_CONF, 'utf8'), { listen: `127.0.0.1:${port}`, upstreams, bind, dir, user: userInfo().username }))
  const errors = () => existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''
  // -t first: a config error is reported as such, not as a server that never answers.
  const check = spawnProcess(t, NGINX, ['-t', '-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {})
  const checked = await within(check.exited, 30000, 'nginx -t')
  if (checked.code !== 0) throw new Error(`nginx -t failed (${checked.code}): ${check.err()}${errors()}`)
  const proc = spawnProcess(t, NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], {}, { group: true })
  const url = `http://127.0.0.1:${port}`
  let exited = false
  proc.exited.then(() => { exited = true }, () => {})
  const nginx: Nginx = {
    url,
    port,
    dir,
    conf,
    proc,
    errors,
    access: () => existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : '',
    async stop () {
      if (exited) return
      proc.child.kill('SIGTERM')
      await within(proc.exited, 20000, 'nginx stop')
    }
  }
  t.teardown(() => nginx.stop())
  // An nginx that exits at once (a port taken between freePort and listen, a
  // path it cannot write) fails the start with its own words.
  const died = proc.exited.then(({ code }) => { throw new Error(`nginx exited (${code}): ${proc.err()}${errors()}`) })
  await Promise.race([
    until(async () => !exited && (await fetch(`${url}/health`)).status === 200, 30000, 'nginx answers /health from a node'),
    died
  ])
  died.catch(() => {}) // it exits in teardown too
  return nginx
}
