/**
 * Statement node → StatementKind for the statements whose kind does not depend on their content.
 * A node missing from this table (and from the special cases in analyze.ts) is kind "unknown", which the
 * policies deny.
 */
import type { StatementKind } from "../../proto/policy.js";

const DDL = [
  "AlterCollationStmt",
  "AlterDatabaseRefreshCollStmt",
  "AlterDatabaseSetStmt",
  "AlterDatabaseStmt",
  "AlterDomainStmt",
  "AlterEnumStmt",
  "AlterEventTrigStmt",
  "AlterExtensionContentsStmt",
  "AlterExtensionStmt",
  "AlterFdwStmt",
  "AlterForeignServerStmt",
  "AlterFunctionStmt",
  "AlterObjectDependsStmt",
  "AlterObjectSchemaStmt",
  "AlterOpFamilyStmt",
  "AlterOperatorStmt",
  "AlterOwnerStmt",
  "AlterPolicyStmt",
  "AlterPublicationStmt",
  "AlterSeqStmt",
  "AlterStatsStmt",
  "AlterSubscriptionStmt",
  "AlterSystemStmt",
  "AlterTSConfigurationStmt",
  "AlterTSDictionaryStmt",
  "AlterTableMoveAllStmt",
  "AlterTableSpaceOptionsStmt",
  "AlterTableStmt",
  "AlterTypeStmt",
  "AlterUserMappingStmt",
  "CommentStmt",
  "CompositeTypeStmt",
  "CreateAmStmt",
  "CreateCastStmt",
  "CreateConversionStmt",
  "CreateDomainStmt",
  "CreateEnumStmt",
  "CreateEventTrigStmt",
  "CreateExtensionStmt",
  "CreateFdwStmt",
  "CreateForeignServerStmt",
  "CreateForeignTableStmt",
  "CreateFunctionStmt",
  "CreateOpClassStmt",
  "CreateOpFamilyStmt",
  "CreatePLangStmt",
  "CreatePolicyStmt",
  "CreatePublicationStmt",
  "CreateRangeStmt",
  "CreateSchemaStmt",
  "CreateSeqStmt",
  "CreateStatsStmt",
  "CreateStmt",
  "CreateSubscriptionStmt",
  "CreateTableAsStmt",
  "CreateTableSpaceStmt",
  "CreateTransformStmt",
  "CreateTrigStmt",
  "CreateUserMappingStmt",
  "CreatedbStmt",
  "DefineStmt",
  "DropOwnedStmt",
  "DropStmt",
  "DropSubscriptionStmt",
  "DropTableSpaceStmt",
  "DropUserMappingStmt",
  "DropdbStmt",
  "ImportForeignSchemaStmt",
  "IndexStmt",
  "ReassignOwnedStmt",
  "RefreshMatViewStmt",
  "RenameStmt",
  "RuleStmt",
  "SecLabelStmt",
  "TruncateStmt",
  "ViewStmt",
] as const;

const ROLE = ["CreateRoleStmt", "AlterRoleStmt", "AlterRoleSetStmt", "DropRoleStmt"] as const;

const GRANT = ["GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt"] as const;

const UTILITY = [
  "VacuumStmt",
  "ClusterStmt",
  "ReindexStmt",
  "CheckPointStmt",
  "DiscardStmt",
  "LoadStmt",
  "FetchStmt",
  "ClosePortalStmt",
  "ConstraintsSetStmt",
] as const;

const SINGLE: Readonly<Record<string, StatementKind>> = {
  SelectStmt: "select",
  DeclareCursorStmt: "select",
  InsertStmt: "insert",
  UpdateStmt: "update",
  DeleteStmt: "delete",
  MergeStmt: "merge",
  CopyStmt: "copy",
  VariableSetStmt: "set",
  VariableShowStmt: "show",
  TransactionStmt: "transaction",
  PrepareStmt: "prepare",
  ExecuteStmt: "execute",
  DeallocateStmt: "deallocate",
  ExplainStmt: "explain",
  CallStmt: "call",
  DoStmt: "do",
  ListenStmt: "listen",
  UnlistenStmt: "listen",
  NotifyStmt: "notify",
  LockStmt: "lock",
};

const TABLE: ReadonlyMap<string, StatementKind> = new Map<string, StatementKind>([
  ...DDL.map((n) => [n, "ddl"] as const),
  ...ROLE.map((n) => [n, "role"] as const),
  ...GRANT.map((n) => [n, "grant"] as const),
  ...UTILITY.map((n) => [n, "utility"] as const),
  ...Object.entries(SINGLE),
]);

/** The kind of a statement node by its name alone; "unknown" when the analyzer does not know it. */
export function baseKind(command: string): StatementKind {
  return TABLE.get(command) ?? "unknown";
}

/** Run-time parameters whose change switches the session's privileges. */
export const ROLE_PARAMETERS: ReadonlySet<string> = new Set(["role", "session_authorization"]);
