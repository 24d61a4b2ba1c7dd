/**
 * One deadline over several awaited steps (an upstream login: connect, TLS, authentication; a bundle
 * fetch: info, get, every read). Each step is raced against it; a step that still resolves after the
 * deadline passed is handed to its `onLate` (close the socket, cancel the stream) so nothing opened
 * too late stays open.
 */
export interface Deadline {
  /** True once the time is up. */
  readonly expired: boolean;
  /** The step's result, or the deadline's error if the time runs out first. */
  within<T>(step: Promise<T>, onLate?: (late: T) => void): Promise<T>;
  /** Stops the timer (call it when the steps are done, however they ended). */
  clear(): void;
}

/**
 * Starts a deadline of `ms`: when it passes, every pending `within` rejects with `error()` and
 * `onExpire` is told (to abort what is in flight).
 */
export function startDeadline(ms: number, error: () => Error, onExpire?: (err: Error) => void): Deadline {
  let expired = false;
  let expire!: (err: Error) => void;
  const passed = new Promise<never>((_, reject) => {
    expire = reject;
  });
  passed.catch(() => undefined);
  const timer = setTimeout(() => {
    expired = true;
    const err = error();
    expire(err);
    onExpire?.(err);
  }, ms);
  return {
    get expired() {
      return expired;
    },
    within<T>(step: Promise<T>, onLate?: (late: T) => void): Promise<T> {
      if (onLate) {
        step.then(
          (late) => {
            if (expired) onLate(late);
          },
          () => undefined,
        );
      }
      return Promise.race([step, passed]);
    },
    clear() {
      clearTimeout(timer);
    },
  };
}
