// The key pairs that sign identity tokens for http/grpc targets (`identity_keys`, migration 8;
// broker/tunnel/http/identity-token.ts). They live in the database so every broker behind one
// address signs with a key every broker publishes. The private half is stored as JWK text: the
// database already holds everything the broker keeps secret, and whoever can read it is trusted.

import type { JWK } from 'jose';
import type { Database } from './database.js';

export interface StoredIdentityKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: number;
}

interface Row {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
}

export class IdentityKeyStore {
  readonly #db: Database;
  readonly #statements;

  constructor(db: Database) {
    this.#db = db;
    this.#statements = {
      all: db.prepare<[], Row>('SELECT kid, private_jwk, public_jwk, created_at FROM identity_keys ORDER BY created_at, kid'),
      insert: db.prepare<[string, string, string, number]>('INSERT INTO identity_keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)'),
    };
  }

  /**
   * The stored keys, oldest first; when there are none, `create()` makes one, stored in the same
   * write transaction, so brokers starting together end up with one key, not one each.
   */
  loadOrCreate(create: () => StoredIdentityKey): StoredIdentityKey[] {
    return this.#db.transaction(() => {
      const stored = this.#statements.all.all().map(toKey);
      if (stored.length > 0) return stored;
      const key = create();
      this.#statements.insert.run(key.kid, JSON.stringify(key.privateJwk), JSON.stringify(key.publicJwk), key.createdAt);
      return [key];
    });
  }
}

function toKey(row: Row): StoredIdentityKey {
  // Written by loadOrCreate only, from JWKs.
  return { kid: row.kid, privateJwk: JSON.parse(row.private_jwk) as JWK, publicJwk: JSON.parse(row.public_jwk) as JWK, createdAt: row.created_at };
}
