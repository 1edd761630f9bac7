// Watch files for changes the way Kubernetes volumes change them. ConfigMap and Secret volumes
// update by renaming a new `..data` symlink into place, which never touches the files' own inodes,
// so the *directories* are watched. Events are debounced, and the files are also polled in case
// events are lost (some filesystems and overlay mounts drop them). The callback only says
// "look again": callers hash the contents and ignore unchanged files.
// Used by the config file reload (snapshot/manager.ts, SnapshotManager.watchFile) and the server.tls reloader (transport/tls).
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

export interface FileWatchOptions {
  debounceMs: number;
  /** Also call onChange this often; 0: file events only. */
  pollSeconds: number;
  /**
   * Only events naming one of the files or a `..` entry (the volume swap) count. Default: any
   * event in the files' directories.
   */
  namedOnly?: boolean;
  /** Debounced after file events; directly on each poll. */
  onChange(): void;
  /** A directory cannot be watched (`atStart`) or its watch failed later: polling continues. */
  onWatchError(dir: string, message: string, atStart: boolean): void;
}

export interface FileWatch {
  close(): void;
}

export function watchFiles(files: readonly string[], o: FileWatchOptions): FileWatch {
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!closed) o.onChange();
    }, o.debounceMs);
  };
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const path = resolve(f);
    const names = byDir.get(dirname(path)) ?? new Set<string>();
    names.add(basename(path));
    byDir.set(dirname(path), names);
  }
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        const n = name?.toString();
        if (!o.namedOnly || !n || names.has(n) || n.startsWith('..')) schedule();
      });
      w.on('error', (err) => o.onWatchError(dir, err.message, false));
      watchers.push(w);
    } catch (err) {
      o.onWatchError(dir, (err as Error).message, true);
    }
  }
  let poll: NodeJS.Timeout | undefined;
  if (o.pollSeconds > 0) {
    poll = setInterval(() => o.onChange(), o.pollSeconds * 1000);
    poll.unref();
  }
  return {
    close() {
      closed = true;
      for (const w of watchers) w.close();
      if (debounce) clearTimeout(debounce);
      if (poll) clearInterval(poll);
    },
  };
}
