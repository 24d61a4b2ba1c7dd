/**
 * The role names a statement names, as the server reads them: identifiers decoded (quotes, U&"…" escapes)
 * and case-folded by the parser, so `GRANT U&"pg_execute_server_progra\006D" TO admin` names
 * `pg_execute_server_program`. Collected from the parse tree, not the text:
 * - every role specification (RoleSpec: grantees, GRANTED BY, role options such as IN ROLE / ROLE / ADMIN,
 *   ALTER ROLE / ALTER GROUP … ADD USER, owners, DROP ROLE, CREATE POLICY … TO, user mappings, REASSIGN /
 *   DROP OWNED), except CURRENT_USER / SESSION_USER / CURRENT_ROLE / PUBLIC, which name no role by text;
 * - the roles granted by GRANT / REVOKE role;
 * - the role CREATE ROLE creates and the old and new names of ALTER ROLE … RENAME;
 * - the role of SET ROLE / SET SESSION AUTHORIZATION and of set_config('role' | 'session_authorization', …)
 *   when it is a literal.
 */

import { ROLE_PARAMETERS } from "./kinds.js";
import type { Setting } from "./settings.js";
import { type AstObject, walk } from "./walk.js";

export function roleNames(type: string, node: AstObject, settings: readonly Setting[]): string[] {
  const out = new Set<string>();
  const add = (name: unknown) => {
    if (typeof name === "string" && name.length > 0) out.add(name);
  };
  if (type === "CreateRoleStmt") add(node.role);
  if (type === "RenameStmt" && node.renameType === "OBJECT_ROLE") {
    add(node.subname);
    add(node.newname);
  }
  walk({ [type]: node }, (t, n, parentType, field) => {
    if (t === "RoleSpec" && n.roletype === "ROLESPEC_CSTRING") add(n.rolename);
    if (t === "AccessPriv" && parentType === "GrantRoleStmt" && field === "granted_roles") add(n.priv_name);
    return undefined;
  });
  for (const s of settings) if (ROLE_PARAMETERS.has(s.name)) add(s.value ?? undefined);
  return [...out];
}
