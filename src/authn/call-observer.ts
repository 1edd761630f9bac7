/**
 * Calls an observer hook (metrics, logs, weak-key reports) of the JWKS manager and the HMAC secret
 * holder: the hook's error is dropped, since an observer must never break key management.
 */
export function callObserver(fn: () => void): void {
  try {
    fn();
  } catch {
    // dropped on purpose (see above)
  }
}
