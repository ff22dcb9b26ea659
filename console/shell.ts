/** What the shell (main.ts) gives each view, and what a view gives back. */
export interface View {
  /** Fetch again and update the page in place (focus and open details kept). */
  refresh?: () => Promise<void>;
  dispose?: () => void;
}

export interface Shell {
  main: HTMLElement;
  /** A 401 anywhere but at sign-in: the key is forgotten and the sign-in form says why. True if it was one. */
  unauthorized(err: unknown): boolean;
  /** The refresh line's "updated at". */
  updated(): void;
  /** Render the current route again (after sign-in, or a language change). */
  route(): void;
}
