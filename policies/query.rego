# METADATA
# title: Query decision
# description: |
#   Decides every statement a session sends, from the proxy's analysis of it.
#   Input: proto/policy.ts QueryInput. Output: QueryDecision, always defined.
#   Denials come in three tiers:
#     - for everyone, admin included: unknown statements, role changes, dangerous functions,
#       COPY ... PROGRAM and server-file COPY, UPDATE/DELETE without WHERE (or with a WHERE that
#       cannot depend on the row), denied commands, naming privileged predefined roles (by parsed
#       name), and the masking inference guard;
#     - for restricted roles and sessions with masks: functions outside the allow-list
#       (query_functions.rego); for sessions with masks: statistics views and ANALYZE of masked
#       tables (query_statistics.rego), relations whose catalog sources include a masked relation
#       (views, materialized views, inheritance children, partitions), foreign tables, and
#       unqualified names after DDL in the open transaction;
#     - for roles without `unrestricted` in data.portcullis.roles: statement kinds outside the
#       role's `kinds` (or commands outside its `commands`, e.g. FetchStmt), DO blocks and function/trigger creation, relations outside the role's
#       `read`/`write` schemas (plus data.portcullis.group_schemas for the token's groups),
#       relations the proxy could not resolve, and settings outside harmless_settings.
#   The statement and every statement nested in it (`inner`: EXPLAIN, PREPARE, EXECUTE,
#   CREATE TABLE AS) are checked alike.
package portcullis.query

import data.portcullis.lib

# ---------------------------------------------------------------------------------------------
# Configuration, read key by key (data.portcullis also holds these packages).

default roles := {}

roles := data.portcullis.roles

default group_schemas := {}

group_schemas := data.portcullis.group_schemas

default masks_config := []

masks_config := data.portcullis.masks

default inference_allow := []

inference_allow := data.portcullis.inference_allow

default dangerous_functions := []

dangerous_functions := data.portcullis.dangerous_functions

default dangerous_function_prefixes := []

dangerous_function_prefixes := data.portcullis.dangerous_function_prefixes

default privileged_role_names := []

privileged_role_names := data.portcullis.privileged_role_names

default forbidden_settings := ["role", "session_authorization"]

forbidden_settings := data.portcullis.forbidden_settings

default harmless_settings := []

harmless_settings := data.portcullis.harmless_settings

default denied_commands := []

denied_commands := data.portcullis.denied_commands

default code_commands := ["DoStmt", "CreateFunctionStmt"]

code_commands := data.portcullis.code_commands

# ---------------------------------------------------------------------------------------------
# Cacheability.
#
# The rule: `cacheable` may be true only when `decision` is a function of input.statement and
# the session identity (input.session.subject, .claims, .db_role, .database) alone, under one
# bundle revision. A policy that reads input.now_ns, input.statement_index, input.statement_count,
# input.protocol, input.session.id or input.session.region (time windows, per-session budgets,
# region rules), or a claim that changes from one token to the next of the same identity (exp, iat,
# nbf, jti, auth_time, at_hash, c_hash, nonce, sid: left out of the cache's key, see
# common/policy/identity-key.ts) must make `cacheable` false for the inputs it decides that way. The proxy may then
# reuse a cached decision for a later input equal in those parts. The default policy reads none
# of them; data.portcullis.query_decisions_cacheable = false turns caching off altogether.

default cacheable := false

cacheable if not data.portcullis.query_decisions_cacheable == false

# `cacheable_by_shape` promises more: the decision is also the same for every statement that differs
# from this one only in literal values, so the proxy may decide such statements by their normalized
# text (literals replaced by placeholders) without parsing each. The default policy reads
# input.statement.text only for grant, role and DDL statements and literal values only through
# `settings`, so plain reads and writes without settings qualify.
default cacheable_by_shape := false

cacheable_by_shape if {
	cacheable
	input.statement.kind in {"select", "insert", "update", "delete"}
	count(object.get(input.statement, "settings", [])) == 0
}

# ---------------------------------------------------------------------------------------------
# The session.

db_role := object.get(input, ["session", "db_role"], null)

role_cfg := roles[db_role]

unrestricted if role_cfg.unrestricted == true

restricted if not unrestricted

groups := lib.claim_set(object.get(input, ["session", "claims"], {}), "groups")

readable_schemas contains schema if some schema in object.get(role_cfg, "read", [])

readable_schemas contains schema if {
	some g in groups
	some schema in object.get(group_schemas, [g, "read"], [])
}

# Just-in-time schema grants (data.portcullis.grants, patched in live by the data plane, which
# removes each at its end): read access to the schema for the subject named.
default grants := {}

grants := data.portcullis.grants

# A `sub` is unique only within its issuer: grants count for sessions whose token came from an
# issuer in data.portcullis.group_issuers when that list is set (as in connection.rego).
default group_issuers := null

group_issuers := data.portcullis.group_issuers

grant_issuer_trusted if group_issuers == null

grant_issuer_trusted if object.get(input, ["session", "claims", "iss"], null) in group_issuers

default session_grants := []

session_grants := object.get(grants, object.get(input, ["session", "subject"], ""), []) if grant_issuer_trusted

readable_schemas contains schema if {
	some g in session_grants
	schema := g.schema
	is_string(schema)
}

writable_schemas contains schema if some schema in object.get(role_cfg, "write", [])

writable_schemas contains schema if {
	some g in groups
	some schema in object.get(group_schemas, [g, "write"], [])
}

requires_resolved if {
	restricted
	not role_cfg.require_resolved == false
}

# ---------------------------------------------------------------------------------------------
# The statements: the top-level one and the chain of `inner` statements nested in it.

statements contains input.statement

statements contains input.statement.inner

statements contains input.statement.inner.inner

statements contains input.statement.inner.inner.inner

known_kinds := {
	"select", "insert", "update", "delete", "merge", "ddl", "copy", "set", "show", "transaction",
	"prepare", "execute", "deallocate", "explain", "call", "do", "listen", "notify", "lock", "grant",
	"role", "utility",
}

# Any statement in the chain writes, or sends its rows somewhere other than a RowDescription the
# proxy can mask (COPY): then even plain output columns escape masking.
rows_bypass_masking if {
	some s in statements
	s.kind in {"insert", "update", "delete", "merge", "ddl", "copy"}
}

rows_bypass_masking if {
	some s in statements
	some r in object.get(s, "relations", [])
	not r.access == "read"
}

# ---------------------------------------------------------------------------------------------
# Denials for everyone.

deny contains "no statement to decide" if not is_object(object.get(input, "statement", null))

deny contains "statement nesting is deeper than the policy inspects" if input.statement.inner.inner.inner.inner

deny contains "a nested statement is not an object" if {
	some s in statements
	not is_object(s)
}

deny contains msg if {
	some s in statements
	is_object(s)
	not object.get(s, "kind", null) in known_kinds
	msg := sprintf("statement kind %s is not recognized", [lib.label(object.get(s, "kind", null))])
}

deny contains msg if {
	some s in statements
	s.kind == "role"
	msg := sprintf(
		"role statements (%s: SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE, role management) are not allowed",
		[lib.label(object.get(s, "command", null))],
	)
}

# The settings a statement changes (SET, RESET, set_config); SHOW only reads one.
changed_settings(s) := object.get(s, "settings", []) if not s.kind == "show"

changed_settings(s) := [] if s.kind == "show"

deny contains msg if {
	some s in statements
	some setting in changed_settings(s)
	lower(setting.name) in forbidden_settings
	msg := sprintf("changing the setting %s is not allowed", [setting.name])
}

deny contains msg if {
	some s in statements
	some setting in changed_settings(s)
	not setting_named(setting)
	msg := sprintf("a setting whose name is not a literal is not allowed (%s)", [lib.label(setting)])
}

# The proxy reports set_config's name as "*unknown*" when it is not a literal.
setting_named(setting) if {
	is_string(setting.name)
	not setting.name in {"", "*unknown*"}
}

deny contains msg if {
	some s in statements
	some f in object.get(s, "functions", [])
	dangerous_function(lib.base_name(f))
	msg := sprintf("function %s is not allowed", [f])
}

dangerous_function(name) if name in dangerous_functions

dangerous_function(name) if {
	some prefix in dangerous_function_prefixes
	startswith(name, prefix)
}

# set_config(name, …) must name its setting literally: the proxy reports literal names in
# `settings`. Fewer settings than calls means at least one name it could not read.
deny contains msg if {
	some s in statements
	calls := [f | some f in object.get(s, "functions", []); lib.base_name(f) == "set_config"]
	count(calls) > count(object.get(s, "settings", []))
	msg := sprintf("%s with a setting name that is not a literal is not allowed", [calls[0]])
}

# A set_config call in DDL is stored (a view, a column default or CHECK, a rule, a trigger's WHEN, a
# row security policy, a materialized view) and runs whenever a later statement evaluates it: a plain
# SELECT or INSERT then changes the search_path (or any setting) where the proxy cannot see it, and
# the proxy resolves names on a path the server no longer has. Refused for everyone.
deny contains msg if {
	some s in statements
	s.kind == "ddl"
	some f in object.get(s, "functions", [])
	lib.base_name(f) == "set_config"
	msg := sprintf("%s in %s is stored and runs later, where Portcullis cannot follow the settings it changes: not allowed", [
		f,
		lib.label(object.get(s, "command", null)),
	])
}

deny contains "COPY ... PROGRAM runs a program on the database server: not allowed" if {
	some s in statements
	s.kind == "copy"
	not s.copy.program == false
}

deny contains "COPY to or from a file on the database server is not allowed" if {
	some s in statements
	s.kind == "copy"
	not s.copy.file == false
}

deny contains msg if {
	some s in statements
	s.kind in {"update", "delete"}
	not s.has_where == true
	msg := sprintf("%s without WHERE would change every row: not allowed", [upper(s.kind)])
}

deny contains "MERGE without a join condition is not allowed" if {
	some s in statements
	s.kind == "merge"
	s.has_where == false
}

# An UPDATE, DELETE or MERGE nested in another statement (a data-modifying WITH) reports its WHERE
# through the enclosing statement's has_where.
deny contains "an UPDATE, DELETE or MERGE inside the statement (a data-modifying WITH) has no WHERE and would change every row: not allowed" if {
	some s in statements
	not s.kind in {"update", "delete", "merge"}
	s.has_where == false
}

deny contains msg if {
	some s in statements
	s.command in denied_commands
	msg := sprintf("%s is not allowed", [s.command])
}

# Role names as the server reads them (the proxy decodes quotes and U&"…" escapes: `roles`). A data plane
# that does not report `roles` is checked on the text instead (which over-denies, never under-denies
# the plain spelling).
deny contains msg if {
	some s in statements
	some name in object.get(s, "roles", [])
	name in privileged_role_names
	msg := sprintf("statements naming the predefined role %s are not allowed", [name])
}

deny contains msg if {
	some s in statements
	s.kind in {"grant", "role", "ddl"}
	not is_array(object.get(s, "roles", null))
	some name in privileged_role_names
	contains(lower(object.get(s, "text", "")), name)
	msg := sprintf("statements naming the predefined role %s are not allowed", [name])
}

# ---------------------------------------------------------------------------------------------
# Masks and the inference guard (for everyone: admins outside the exempt groups are masked too).

# The masks that apply to this session: every configured mask unless one of the token's groups is
# exempt. They are returned whatever the statement reads (the proxy matches them by table OID).
active_masks contains m if {
	some m in masks_config
	not mask_exempt(m)
}

mask_exempt(m) if {
	some g in object.get(m, "exempt_groups", [])
	g in groups
}

mask_relation(m) := object.get(m, "relation", null)

# Sorted, so opa and opa-wasm (whose set order differs) give the same array.
mask := sort([out | some m in active_masks; out := mask_output(m)])

mask_output(m) := {"relation": m.relation, "column": m.column, "with": m.with} if is_string(m.relation)

mask_output(m) := {"column": m.column, "with": m.with} if not is_string(object.get(m, "relation", null))

# relation_matches(written, masked): a relation name as the statement wrote it ("schema.name" or a
# bare "name") may be `masked` ("schema.name"; null = every relation).
relation_matches(_, masked) if masked == null

relation_matches(written, masked) if {
	is_string(written)
	written == masked
}

relation_matches(written, masked) if {
	is_string(written)
	is_string(masked)
	not contains(written, ".")
	endswith(masked, concat("", [".", written]))
}

# relation_ref_matches(r, masked): a RelationRef may be `masked`.
relation_ref_matches(_, masked) if masked == null

relation_ref_matches(r, masked) if {
	is_string(r.schema)
	concat(".", [r.schema, r.name]) == masked
}

relation_ref_matches(r, masked) if {
	not is_string(object.get(r, "schema", null))
	relation_matches(r.name, masked)
}

reads_masked_relation if {
	some s in statements
	some r in object.get(s, "relations", [])
	some m in active_masks
	relation_ref_matches(r, mask_relation(m))
}

# touches_mask(c): a column use that may carry a masked column's value.
touches_mask(c) if {
	some m in active_masks
	c.column == m.column
	c.relation == null
}

touches_mask(c) if {
	some m in active_masks
	c.column == m.column
	relation_matches(c.relation, mask_relation(m))
}

touches_mask(c) if {
	c.column == "*"
	some m in active_masks
	relation_matches(c.relation, mask_relation(m))
}

touches_mask(c) if {
	c.column == "*"
	c.relation == null
	reads_masked_relation
}

# Explicit allowances in data.portcullis.inference_allow: {relation?, column, db_roles?, groups?}.
inference_allowed(c) if {
	some a in inference_allow
	a.column == c.column
	relation_matches(c.relation, object.get(a, "relation", null))
	allowance_applies(a)
}

allowance_applies(a) if {
	not a.db_roles
	not a.groups
}

allowance_applies(a) if db_role in a.db_roles

allowance_applies(a) if {
	some g in a.groups
	g in groups
}

guarded_use(c) if not c.context == "output"

guarded_use(_) if rows_bypass_masking

deny contains msg if {
	some s in statements
	some c in object.get(s, "columns", [])
	guarded_use(c)
	touches_mask(c)
	not inference_allowed(c)
	msg := sprintf(
		"masked column %s may only be selected as a plain output column (masking cannot follow it into expressions, whole rows or writes)",
		[column_label(c)],
	)
}

column_label(c) := concat(".", [c.relation, lib.label(c.column)]) if is_string(c.relation)

column_label(c) := concat("", [lib.label(object.get(c, "column", null)), " (relation unknown)"]) if not is_string(object.get(c, "relation", null))

# A writing statement or COPY that reads a masked relation but reports no column uses: nothing
# tells which columns it carries, so it is treated as carrying all of them.
deny contains msg if {
	rows_bypass_masking
	some s in statements
	count(object.get(s, "columns", [])) == 0
	some r in object.get(s, "relations", [])
	r.access == "read"
	some m in active_masks
	relation_ref_matches(r, mask_relation(m))
	copy_may_include(r, m.column)
	msg := sprintf("%s would copy masked column %s of %s unmasked: not allowed", [
		upper(lib.label(s.kind)),
		m.column, lib.relation_label(r),
	])
}

copy_may_include(r, _) if not is_array(object.get(r, "columns", null))

copy_may_include(r, column) if column in r.columns

copy_may_include(r, _) if "*" in r.columns

# DDL, utility statements and GRANTs on a masked relation, for a session with masks: a rename (of a
# column, the table or its schema: ALTER TABLE … RENAME, SET SCHEMA) moves what the masks name, and an
# index, constraint, trigger, rule, policy, statistics object or comment on a masked column is an
# oracle (a unique index answers whether a guessed value exists). CREATE TABLE AS and CREATE VIEW
# only read it, and their columns are guarded above.
deny contains msg if {
	count(active_masks) > 0
	some s in statements
	s.kind in {"ddl", "utility", "grant"}
	not s.command in {"CreateTableAsStmt", "ViewStmt"}
	some r in object.get(s, "relations", [])
	some m in active_masks
	relation_ref_matches(r, mask_relation(m))
	msg := sprintf("%s on masked relation %s is not allowed for a session with masks", [
		lib.label(object.get(s, "command", null)),
		lib.relation_label(r),
	])
}

# A relation that shows rows of a masked relation (by the catalog, `sources`: a view or materialized view
# reading it, an inheritance child or partition of it, an inheritance parent of it, transitively), for
# a session with masks: its
# results name the view or the child in RowDescription, not the masked table, so masking cannot follow
# them; so is DDL on it (CREATE OR REPLACE VIEW, ALTER VIEW). Unless the relation itself has masks.
deny contains msg if {
	count(active_masks) > 0
	some s in statements
	some r in object.get(s, "relations", [])
	not listed_with_masks(r)
	some source in object.get(r, "sources", [])
	some m in active_masks
	relation_matches(source, mask_relation(m))
	msg := sprintf(
		"relation %s shows rows of masked relation %s (a view over it, an inheritance child, partition or parent of it): not allowed for a session with masks",
		[lib.relation_label(r), source],
	)
}

# A foreign table reads rows from elsewhere (another database, a file) that no mask can name.
deny contains msg if {
	count(active_masks) > 0
	some s in statements
	some r in object.get(s, "relations", [])
	r.relkind == "foreign_table"
	not listed_with_masks(r)
	msg := sprintf("foreign table %s is not allowed for a session with masks (its rows may be masked data read elsewhere)", [lib.relation_label(r)])
}

listed_with_masks(r) if {
	some m in active_masks
	is_string(mask_relation(m))
	relation_ref_matches(r, mask_relation(m))
}

# After DDL in the open transaction (or earlier in the same query) the proxy leaves unqualified names
# unresolved: its catalog snapshot cannot see that DDL yet (`DROP TABLE public.employees` makes
# `employees` mean hr.employees). For a session with masks such a name could be a masked relation.
deny contains msg if {
	count(active_masks) > 0
	input.statement.ddl_in_transaction == true
	some s in statements
	some r in object.get(s, "relations", [])
	not r.resolved == true
	msg := sprintf(
		"relation %s is named without a schema after DDL in this transaction: qualify it with its schema (or end the transaction first) in a session with masks",
		[lib.relation_label(r)],
	)
}

# While the search_path is unknown to the proxy (a set_config it cannot take at its word, a
# ROLLBACK TO a savepoint it did not see, a disagreement with the server) unqualified names are left
# unresolved: any of them could be a masked relation, or a view or child showing its rows.
deny contains msg if {
	count(active_masks) > 0
	input.statement.search_path_unknown == true
	some s in statements
	some r in object.get(s, "relations", [])
	not r.resolved == true
	msg := sprintf(
		"relation %s is named without a schema while the search_path is unknown to Portcullis: qualify it with its schema (or SET search_path) in a session with masks",
		[lib.relation_label(r)],
	)
}

# An unqualified name resolved to another schema than a masked relation of the same name: what it
# means can change under the proxy's catalog (another session, or another data plane, drops the table
# the proxy resolved it to), and then the server reads the masked one where the proxy saw none (a COPY,
# a rename, a WHERE on its masked columns). A session with masks qualifies such names.
deny contains msg if {
	count(active_masks) > 0
	some s in statements
	some r in object.get(s, "relations", [])
	r.unqualified == true
	some m in active_masks
	is_string(mask_relation(m))
	endswith(mask_relation(m), concat("", [".", r.name]))
	not relation_ref_matches(r, mask_relation(m))
	msg := sprintf(
		"relation %s (resolved to %s.%s) has the name of masked relation %s: qualify it with its schema in a session with masks",
		[r.name, r.schema, r.name, mask_relation(m)],
	)
}

# The same for a name that resolved before a relation of the same name later on the path that shows
# a masked relation's rows (`staff` resolving to public.staff while hr.staff, a view over hr.employees,
# comes after it): once public.staff is dropped elsewhere, the server reads the view.
deny contains msg if {
	count(active_masks) > 0
	some s in statements
	some r in object.get(s, "relations", [])
	r.unqualified == true
	some hidden in object.get(r, "hides", [])
	some m in active_masks
	relation_matches(hidden, mask_relation(m))
	msg := sprintf(
		"relation %s (resolved to %s.%s) has the name of a relation later on the search_path that is or shows masked relation %s: qualify it with its schema in a session with masks",
		[r.name, r.schema, r.name, hidden],
	)
}

# A rename of anything but a relation (ALTER SCHEMA hr RENAME TO …) may move masked relations.
deny contains "renaming a schema or any object other than a relation is not allowed for a session with masks" if {
	count(active_masks) > 0
	some s in statements
	s.command in {"RenameStmt", "AlterObjectSchemaStmt"}
	count(object.get(s, "relations", [])) == 0
}

# ---------------------------------------------------------------------------------------------
# Denials for restricted roles (every role without `unrestricted`).

deny contains msg if {
	not role_cfg
	msg := sprintf("database role %s has no query rules (data.portcullis.roles)", [lib.label(db_role)])
}

deny contains msg if {
	restricted
	some s in statements
	s.kind in known_kinds
	not s.kind in object.get(role_cfg, "kinds", [])
	not object.get(s, "command", null) in object.get(role_cfg, "commands", [])
	msg := sprintf("%s statements (%s) are not allowed for role %s", [
		s.kind,
		lib.label(object.get(s, "command", null)), lib.label(db_role),
	])
}

deny contains msg if {
	restricted
	some s in statements
	s.command in code_commands
	msg := sprintf("%s runs code the proxy cannot inspect: only admin may do that", [s.command])
}

deny contains msg if {
	restricted
	some s in statements
	s.kind == "do"
	not object.get(s, "command", null) in code_commands
	msg := "DO blocks run code the proxy cannot inspect: only admin may do that"
}

# Code runs inside the server, where masking cannot follow it: a session that has masks (an admin
# outside the exempt groups, say) could read a masked column in a DO block or a function and print it.
deny contains msg if {
	count(active_masks) > 0
	some s in statements
	is_code(s)
	msg := sprintf("%s runs code that could read masked columns: not allowed for a session with masks", [
		lib.label(object.get(s, "command", null)),
	])
}

is_code(s) if s.command in code_commands

is_code(s) if s.kind == "do"

deny contains msg if {
	restricted
	some s in statements
	some setting in changed_settings(s)
	setting_named(setting)
	not lower(setting.name) in forbidden_settings
	not lower(setting.name) in harmless_settings
	msg := sprintf("the setting %s may only be changed by admin", [setting.name])
}

deny contains msg if {
	restricted
	some s in statements
	s.kind == "set"
	count(object.get(s, "settings", [])) == 0
	msg := sprintf("%s without a setting name is not allowed for role %s", [
		lib.label(object.get(s, "command", null)),
		lib.label(db_role),
	])
}

deny contains msg if {
	requires_resolved
	some s in statements
	some r in object.get(s, "relations", [])
	not r.resolved == true
	msg := sprintf("relation %s could not be resolved to a schema: not allowed for role %s", [
		lib.relation_label(r),
		lib.label(db_role),
	])
}

deny contains msg if {
	restricted
	some s in statements
	some r in object.get(s, "relations", [])
	checked_relation(r)
	r.access == "read"
	not object.get(r, "schema", null) in readable_schemas
	msg := sprintf("role %s may not read %s (schema %s)", [
		lib.label(db_role), lib.relation_label(r),
		lib.label(object.get(r, "schema", null)),
	])
}

deny contains msg if {
	restricted
	some s in statements
	some r in object.get(s, "relations", [])
	checked_relation(r)
	not r.access == "read"
	not object.get(r, "schema", null) in writable_schemas
	msg := sprintf("role %s may not write %s (schema %s)", [
		lib.label(db_role), lib.relation_label(r),
		lib.label(object.get(r, "schema", null)),
	])
}

# A relation whose schema is unknown is already denied by the resolution rule when the role
# requires resolution; otherwise it is checked like any other (and fails, null being no schema).
checked_relation(r) if is_string(r.schema)

checked_relation(_) if not requires_resolved

# ---------------------------------------------------------------------------------------------
# The decision.

default decision := {"allow": false, "reasons": ["query policy reached no decision"]}

decision := {"allow": true, "reasons": [], "mask": mask} if {
	count(deny) == 0
	is_object(input.statement)
	role_cfg
}

decision := {"allow": false, "reasons": sort(deny)} if count(deny) > 0
