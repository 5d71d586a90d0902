import { launch, LOG_DIR, type Child } from '../lib/proc';
import type { FromGenerator, GeneratorResult, GeneratorTask, ToGenerator } from './protocol';

/** The generators of one open-model run, set up and waiting for the word to start. */
export interface Fleet {
  /** Every generator starts its arrivals at `startAt` (epoch ms). */
  go(startAt: number): void;
  /** Every generator's result, once each has stopped and drained. */
  done: Promise<GeneratorResult[]>;
}

/**
 * Launches `count` rush generators (bench/rush/generator.ts, a process each, for the rush and the
 * sell-out), deals the fans out between them (generator g takes arrivals g, g + count, …) and resolves
 * once every one is set up.
 */
export async function launchFleet(name: string, count: number, userIds: string[], task: Omit<GeneratorTask, 'userIds' | 'offset' | 'stride'>): Promise<Fleet> {
  const children = Array.from({ length: count }, (_, g) =>
    launch(`${name}-generator-${g}`, 'bench', process.execPath, ['--max-old-space-size=4096', '--import', 'tsx', 'bench/rush/generator.ts'], process.env, { ipc: true }),
  );
  const message = (child: Child, type: FromGenerator['type']) =>
    new Promise<FromGenerator>((resolve, reject) => {
      const onMessage = (m: FromGenerator) => m.type === type && (child.proc.off('close', onClose), child.proc.off('message', onMessage), resolve(m));
      // 'close', not 'exit': it comes after every message the channel still held.
      const onClose = (code: number | null) => reject(new Error(`${child.name} ended (${code}) before "${type}"; see its log in ${LOG_DIR}`));
      child.proc.on('message', onMessage);
      child.proc.once('close', onClose);
    });
  const tell = (child: Child, m: ToGenerator) => child.proc.send(m);
  await Promise.all(
    children.map((child, g) => {
      tell(child, { type: 'setup', task: { ...task, userIds: userIds.filter((_, i) => i % count === g), offset: g, stride: count } });
      return message(child, 'ready');
    }),
  );
  const done = Promise.all(children.map((child) => message(child, 'done'))).then((answers) =>
    answers.map((m) => (m as Extract<FromGenerator, { type: 'done' }>).result),
  );
  return { go: (startAt) => children.forEach((child) => tell(child, { type: 'go', startAt })), done };
}
