import type { HostKeyPrompt } from '../../shared/contract';
import { parseHostKeyChanged, type HostKeyChange } from './errors';
import type { SliceCreator } from './types';

export interface HostKeySlice {
  /** First-use host key questions waiting for the user, oldest first. */
  hostKeyPrompts: HostKeyPrompt[];
  /** A changed host key: a blocking screen until acknowledged. */
  hostKeyChanged: HostKeyChange | null;
  receiveHostKeyPrompt(prompt: HostKeyPrompt): void;
  /** Answered elsewhere (another window) or timed out. */
  dropHostKeyPrompt(promptId: string): void;
  /** Questions the engine still waits on (after a reload, or a lost connection). */
  loadHostKeyPrompts(): Promise<void>;
  answerHostKey(promptId: string, trust: boolean): Promise<void>;
  raiseHostKeyChanged(message: string): void;
  acknowledgeHostKeyChanged(): void;
}

// ---------- pure ----------

/** Adds a prompt unless it is queued already. */
export function enqueuePrompt(queue: HostKeyPrompt[], prompt: HostKeyPrompt): HostKeyPrompt[] {
  return queue.some((p) => p.promptId === prompt.promptId) ? queue : [...queue, prompt];
}

export function removePrompt(queue: HostKeyPrompt[], promptId: string): HostKeyPrompt[] {
  return queue.filter((p) => p.promptId !== promptId);
}

/** The question the dialog shows now. */
export function currentHostKeyPrompt(state: { hostKeyPrompts: HostKeyPrompt[] }): HostKeyPrompt | null {
  return state.hostKeyPrompts[0] ?? null;
}

// ---------- slice ----------

export const createHostKeySlice: SliceCreator<HostKeySlice> = (set, get, { api, fail }) => ({
  hostKeyPrompts: [],
  hostKeyChanged: null,
  receiveHostKeyPrompt: (prompt) => set({ hostKeyPrompts: enqueuePrompt(get().hostKeyPrompts, prompt) }),
  dropHostKeyPrompt: (promptId) => set({ hostKeyPrompts: removePrompt(get().hostKeyPrompts, promptId) }),
  loadHostKeyPrompts: async () => {
    try {
      for (const prompt of await api().invoke('hostkey:pending', undefined)) get().receiveHostKeyPrompt(prompt);
    } catch (err) {
      set({ notice: `Could not read the open host key questions: ${fail(err)}` });
    }
  },
  answerHostKey: async (promptId, trust) => {
    // The question closes at once: the engine side waits, and a late answer is refused there.
    set({ hostKeyPrompts: removePrompt(get().hostKeyPrompts, promptId) });
    try {
      await api().invoke('hostkey:answer', { promptId, trust });
    } catch (err) {
      set({ notice: `Your answer to the host key question did not arrive: ${fail(err)}` });
    }
  },
  raiseHostKeyChanged: (message) => set({ hostKeyChanged: parseHostKeyChanged(message) }),
  acknowledgeHostKeyChanged: () => set({ hostKeyChanged: null }),
});
