// What a database error means to a store, whichever database raised it. better-sqlite3 throws
// SqliteError with codes like SQLITE_CONSTRAINT_PRIMARYKEY; the PostgreSQL connection throws
// PostgresError with the SQLSTATE (23505) and the constraint's name. Read by code, not by class, so
// a store never loads the SQLite binding to classify an error.

/** Which kind of constraint refused a write. */
export type ConstraintKind = 'primary_key' | 'unique' | 'check' | 'foreign_key' | 'trigger';

const SQLITE_CONSTRAINTS: Readonly<Record<string, ConstraintKind>> = {
  SQLITE_CONSTRAINT_PRIMARYKEY: 'primary_key',
  SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_CHECK: 'check',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'foreign_key',
  SQLITE_CONSTRAINT_TRIGGER: 'trigger',
};

/** SQLSTATEs (PostgreSQL Appendix A); P0001 is what a trigger's RAISE EXCEPTION gives. */
const POSTGRES_CONSTRAINTS: Readonly<Record<string, ConstraintKind>> = {
  '23514': 'check',
  '23503': 'foreign_key',
  P0001: 'trigger',
};

/** The kind of constraint `error` reports, or null when it is not a constraint violation. */
export function constraintViolated(error: unknown): ConstraintKind | null {
  const code = codeOf(error);
  if (code === null) return null;
  const sqlite = SQLITE_CONSTRAINTS[code];
  if (sqlite) return sqlite;
  if (code === '23505') return constraintNameOf(error)?.endsWith('_pkey') ? 'primary_key' : 'unique';
  return POSTGRES_CONSTRAINTS[code] ?? null;
}

/** The error's code (SQLite's name or PostgreSQL's SQLSTATE), when it carries one. */
export function codeOf(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

function constraintNameOf(error: unknown): string | null {
  const name = (error as { constraint?: unknown }).constraint;
  return typeof name === 'string' ? name : null;
}
