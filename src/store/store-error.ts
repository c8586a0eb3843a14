/** The store's one error type, shared by both engines. */

/**
 * A problem with the database itself (missing, too new, unreachable, refused a row), with the file or
 * the server (its URL without the password) in the message.
 */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  /**
   * The database refused the row's values (a constraint, a type, a size) rather than failing: the
   * caller may fail the one write that caused it and go on.
   */
  readonly rowRefused: boolean;

  constructor(message: string, options?: ErrorOptions & { readonly rowRefused?: boolean }) {
    super(message, options);
    this.rowRefused = options?.rowRefused ?? false;
  }
}
