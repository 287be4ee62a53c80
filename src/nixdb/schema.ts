/**
 * The Nix database schema, version 10 (every Nix since 2.0, and Lix). The statements are those of
 * Nix's src/libstore/schema.sql, verbatim: SQLite keeps each CREATE statement's text in
 * sqlite_master, so the same text gives the same schema rows as a database Nix made itself
 * (compare `.schema` of a store made by `nix-store --add`, as test/nixdb/db-writer.test.ts does).
 * Comments between statements are left out; those inside a statement are part of it and kept.
 *
 * Not included: ca-specific-schema.sql (Realisations), which Nix only loads with the experimental
 * feature ca-derivations, and the SchemaMigrations table newer Nix versions add themselves when
 * they first open a database.
 */

/** The content of `nix/var/nix/db/schema`: the version number, no newline (as Nix writes it). */
export const NIX_SCHEMA_VERSION = 10;

export const NIX_SCHEMA_SQL = `create table if not exists ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer, -- null implies "false"
    sigs             text, -- space-separated
    ca               text -- if not null, an assertion that the path is content-addressed; see ValidPathInfo
);

create table if not exists Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);

create index if not exists IndexReferrer on Refs(referrer);
create index if not exists IndexReference on Refs(reference);

create trigger if not exists DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;

create table if not exists DerivationOutputs (
    drv  integer not null,
    id   text not null, -- symbolic output id, usually "out"
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);

create index if not exists IndexDerivationOutputs on DerivationOutputs(path);
`;

/** The statements Nix registers paths with (LocalStore's RegisterValidPath, AddReference, AddDerivationOutput). */
export const REGISTER_VALID_PATH =
  "insert into ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) values (?, ?, ?, ?, ?, ?, ?, ?);";
export const ADD_REFERENCE = "insert or replace into Refs (referrer, reference) values (?, ?);";
export const ADD_DERIVATION_OUTPUT = "insert or replace into DerivationOutputs (drv, id, path) values (?, ?, ?);";
