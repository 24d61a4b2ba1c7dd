package portcullis.query_test

import data.portcullis.query

# ---------------------------------------------------------------------------------------------
# Helpers

session(role, groups) := {
	"id": "s-1",
	"subject": "alice",
	"claims": {"iss": "https://idp.example", "sub": "alice", "aud": "portcullis", "exp": 2000000000, "groups": groups},
	"db_role": role,
	"database": "app",
	"region": "eu",
}

query_input(role, groups, statement) := {
	"session": session(role, groups),
	"protocol": "simple",
	"statement": statement,
	"statement_index": 0,
	"statement_count": 1,
	"now_ns": 1700000000000000000,
}

decide(role, groups, statement) := d if {
	d := query.decision with input as query_input(role, groups, statement)
}

analyst(statement) := decide("analyst", ["analysts"], statement)

hr_analyst(statement) := decide("analyst", ["analysts", "hr"], statement)

app_rw(statement) := decide("app_rw", ["engineers"], statement)

admin(statement) := decide("admin", ["admins"], statement)

hr_admin(statement) := decide("admin", ["admins", "hr"], statement)

rel(schema, name, access) := {"schema": schema, "name": name, "access": access, "resolved": true}

unresolved(name, access) := {"schema": null, "name": name, "access": access, "resolved": false}

stmt(kind, command, relations) := {
	"kind": kind,
	"command": command,
	"relations": relations,
	"functions": [],
	"text": "-- test statement",
	"fingerprint": "0000",
}

with_fields(s, fields) := object.union(s, fields)

select_from(relations) := stmt("select", "SelectStmt", relations)

select_fn(functions) := with_fields(select_from([]), {"functions": functions})

select_cols(relations, columns) := with_fields(select_from(relations), {"columns": columns})

col(relation, column, context) := {"relation": relation, "column": column, "context": context}

set_stmt(name) := with_fields(stmt("set", "VariableSetStmt", []), {"settings": [{"name": name, "value": "x", "local": false}]})

copy_stmt(relations, direction, program, file) := with_fields(
	stmt("copy", "CopyStmt", relations),
	{"copy": {"direction": direction, "program": program, "file": file}},
)

ddl(command) := stmt("ddl", command, [rel("sales", "t", "write")])

denied_with(d, fragment) if {
	d.allow == false
	some r in d.reasons
	contains(r, fragment)
}

allowed(d) if {
	d.allow == true
	d.reasons == []
}

masked_columns(d) := sort([m.column | some m in d.mask])

orders := rel("sales", "orders", "read")

employees := rel("hr", "employees", "read")

# ---------------------------------------------------------------------------------------------
# Analysts: read-only on sales

test_analyst_reads_sales if {
	allowed(analyst(select_from([orders])))
}

test_analyst_reads_nothing_else if {
	denied_with(analyst(select_from([rel("public", "users", "read")])), "role analyst may not read public.users")
	denied_with(analyst(select_from([rel("pg_catalog", "pg_authid", "read")])), "may not read")
}

test_analyst_may_not_read_hr if {
	denied_with(analyst(select_from([employees])), "role analyst may not read hr.employees (schema hr)")
}

test_hr_group_reads_hr if {
	allowed(hr_analyst(select_from([employees])))
}

test_analyst_may_not_write_sales if {
	d := analyst(with_fields(stmt("insert", "InsertStmt", [rel("sales", "orders", "write")]), {}))
	denied_with(d, "insert statements (InsertStmt) are not allowed for role analyst")
	denied_with(d, "role analyst may not write sales.orders")
}

test_analyst_may_not_update if {
	d := analyst(with_fields(stmt("update", "UpdateStmt", [rel("sales", "orders", "write")]), {"has_where": true}))
	denied_with(d, "update statements")
}

test_analyst_select_into_is_a_write if {
	s := select_from([orders, rel("sales", "orders_copy", "write")])
	denied_with(analyst(s), "may not write sales.orders_copy")
}

test_analyst_unresolved_relation_denied if {
	denied_with(analyst(select_from([unresolved("orders", "read")])), "relation orders could not be resolved")
}

test_analyst_resolved_missing_flag_denied if {
	r := object.remove(orders, ["resolved"])
	denied_with(analyst(select_from([r])), "could not be resolved")
}

test_app_rw_unresolved_relation_denied if {
	denied_with(app_rw(select_from([unresolved("orders", "read")])), "could not be resolved")
}

test_admin_unresolved_relation_allowed if {
	allowed(admin(select_from([unresolved("orders", "read")])))
}

test_role_may_opt_out_of_resolution if {
	d := app_rw(select_from([unresolved("orders", "read")])) with data.portcullis.roles.app_rw.require_resolved as false
	denied_with(d, "role app_rw may not read orders (schema null)")
}

# ---------------------------------------------------------------------------------------------
# app_rw: reads and writes sales

test_app_rw_writes_sales if {
	allowed(app_rw(stmt("insert", "InsertStmt", [rel("sales", "orders", "write")])))
	allowed(app_rw(with_fields(stmt("update", "UpdateStmt", [rel("sales", "orders", "write")]), {"has_where": true})))
	allowed(app_rw(with_fields(stmt("delete", "DeleteStmt", [rel("sales", "orders", "write")]), {"has_where": true})))
	allowed(app_rw(with_fields(stmt("merge", "MergeStmt", [rel("sales", "orders", "write"), orders]), {"has_where": true})))
}

test_app_rw_may_not_write_hr if {
	denied_with(app_rw(stmt("insert", "InsertStmt", [rel("hr", "employees", "write")])), "may not write hr.employees")
}

test_app_rw_may_not_read_hr_without_the_group if {
	denied_with(app_rw(select_from([employees])), "may not read hr.employees")
	allowed(decide("app_rw", ["engineers", "hr"], select_from([employees])))
}

test_app_rw_listen_analyst_not if {
	allowed(app_rw(stmt("listen", "ListenStmt", [])))
	denied_with(analyst(stmt("listen", "ListenStmt", [])), "listen statements")
}

test_cursor_commands_allowed_for_restricted_roles if {
	allowed(analyst(stmt("select", "DeclareCursorStmt", [orders])))
	allowed(analyst(stmt("utility", "FetchStmt", [])))
	allowed(analyst(stmt("utility", "ClosePortalStmt", [])))
	denied_with(analyst(stmt("utility", "DiscardStmt", [])), "utility statements (DiscardStmt)")
}

test_utility_is_admin_only if {
	vacuum := stmt("utility", "VacuumStmt", [rel("sales", "orders", "write")])
	denied_with(app_rw(vacuum), "utility statements (VacuumStmt)")
	allowed(admin(vacuum))
}

# ---------------------------------------------------------------------------------------------
# UPDATE/DELETE without WHERE: denied for everyone

test_update_without_where_denied_for_everyone if {
	u := with_fields(stmt("update", "UpdateStmt", [rel("sales", "orders", "write")]), {"has_where": false})
	denied_with(app_rw(u), "UPDATE without WHERE")
	denied_with(admin(u), "UPDATE without WHERE")
}

test_delete_without_where_denied_for_everyone if {
	d := with_fields(stmt("delete", "DeleteStmt", [rel("sales", "orders", "write")]), {"has_where": false})
	denied_with(app_rw(d), "DELETE without WHERE")
	denied_with(admin(d), "DELETE without WHERE")
}

test_delete_with_unknown_where_denied if {
	d := stmt("delete", "DeleteStmt", [rel("sales", "orders", "write")])
	denied_with(admin(d), "DELETE without WHERE")
}

test_data_modifying_with_without_where_denied_for_everyone if {
	# WITH x AS (DELETE FROM sales.orders RETURNING *) SELECT count(*) FROM x
	s := with_fields(stmt("select", "SelectStmt", [rel("sales", "orders", "write")]), {"has_where": false})
	denied_with(app_rw(s), "has no WHERE and would change every row")
	denied_with(admin(s), "has no WHERE and would change every row")
	allowed(app_rw(with_fields(stmt("select", "SelectStmt", [rel("sales", "orders", "write")]), {"has_where": true})))
}

test_merge_without_condition_denied if {
	m := with_fields(stmt("merge", "MergeStmt", [rel("sales", "orders", "write")]), {"has_where": false})
	denied_with(admin(m), "MERGE without a join condition")
}

# ---------------------------------------------------------------------------------------------
# DDL, DO, functions

test_ddl_only_for_admin if {
	create := ddl("CreateStmt")
	denied_with(analyst(create), "ddl statements (CreateStmt) are not allowed for role analyst")
	denied_with(app_rw(create), "ddl statements (CreateStmt) are not allowed for role app_rw")
	allowed(admin(create))
}

test_drop_only_for_admin if {
	denied_with(app_rw(ddl("DropStmt")), "ddl statements")
	allowed(admin(ddl("DropStmt")))
}

test_do_denied_to_non_admins if {
	do := stmt("do", "DoStmt", [])
	denied_with(app_rw(do), "DoStmt runs code the proxy cannot inspect")
	denied_with(analyst(do), "runs code")
	allowed(hr_admin(do)) # an admin with masks is refused too: see test_masked_admin_may_not_run_code
}

test_create_function_denied_to_non_admins if {
	f := stmt("ddl", "CreateFunctionStmt", [])
	denied_with(app_rw(f), "CreateFunctionStmt runs code")
	allowed(hr_admin(f))
}

test_code_stays_denied_when_a_role_gets_ddl if {
	d := app_rw(stmt("ddl", "CreateFunctionStmt", [])) with data.portcullis.roles.app_rw.kinds as ["ddl"]
	denied_with(d, "CreateFunctionStmt runs code")
	allowed(app_rw(ddl("CreateStmt"))) with data.portcullis.roles.app_rw.kinds as ["ddl"]
}

test_call_is_admin_only if {
	denied_with(app_rw(stmt("call", "CallStmt", [])), "call statements")
	allowed(admin(stmt("call", "CallStmt", [])))
}

# ---------------------------------------------------------------------------------------------
# Dangerous functions: denied for everyone

test_file_functions_denied_for_admin if {
	denied_with(admin(select_fn(["pg_read_file"])), "function pg_read_file is not allowed")
	denied_with(admin(select_fn(["pg_catalog.pg_read_binary_file"])), "function pg_catalog.pg_read_binary_file")
	denied_with(admin(select_fn(["pg_ls_dir"])), "pg_ls_dir")
	denied_with(admin(select_fn(["pg_stat_file"])), "pg_stat_file")
	denied_with(admin(select_fn(["lo_import"])), "lo_import")
	denied_with(admin(select_fn(["lo_export"])), "lo_export")
}

test_backend_control_denied if {
	denied_with(app_rw(select_fn(["pg_terminate_backend"])), "pg_terminate_backend")
	denied_with(admin(select_fn(["pg_cancel_backend"])), "pg_cancel_backend")
	denied_with(admin(select_fn(["pg_reload_conf"])), "pg_reload_conf")
}

test_dblink_family_denied if {
	denied_with(admin(select_fn(["dblink"])), "function dblink is not allowed")
	denied_with(admin(select_fn(["public.dblink_exec"])), "dblink_exec")
	denied_with(analyst(select_fn(["dblink_connect_u"])), "dblink_connect_u")
}

test_xml_family_denied if {
	denied_with(admin(select_fn(["query_to_xml"])), "query_to_xml")
	denied_with(admin(select_fn(["query_to_xml_and_xmlschema"])), "query_to_xml_and_xmlschema")
	denied_with(admin(select_fn(["table_to_xml"])), "table_to_xml")
	denied_with(analyst(select_fn(["cursor_to_xmlschema"])), "cursor_to_xmlschema")
}

test_function_names_normalized if {
	denied_with(admin(select_fn(["PG_CATALOG.PG_READ_FILE"])), "not allowed")
	denied_with(admin(select_fn(["\"pg_read_file\""])), "not allowed")
}

test_ordinary_functions_allowed if {
	allowed(analyst(select_fn(["now", "lower", "pg_catalog.count", "current_setting"])))
}

test_dangerous_function_list_is_data if {
	d := analyst(select_fn(["pg_sleep"])) with data.portcullis.dangerous_functions as ["pg_sleep"]
	denied_with(d, "pg_sleep")
}

# ---------------------------------------------------------------------------------------------
# Settings, set_config and role changes

test_role_changes_denied_for_everyone if {
	set_role := stmt("role", "VariableSetStmt", [])
	denied_with(admin(set_role), "role statements (VariableSetStmt: SET ROLE")
	denied_with(analyst(set_role), "role statements")
	denied_with(admin(stmt("role", "CreateRoleStmt", [])), "role statements (CreateRoleStmt")
}

test_set_role_setting_denied if {
	denied_with(admin(set_stmt("role")), "changing the setting role is not allowed")
	denied_with(admin(set_stmt("session_authorization")), "changing the setting session_authorization")
	denied_with(admin(set_stmt("ROLE")), "changing the setting ROLE")
}

test_reset_role_denied if {
	reset := with_fields(stmt("set", "VariableSetStmt", []), {"settings": [{"name": "role", "value": null, "local": false}]})
	denied_with(admin(reset), "changing the setting role")
}

test_set_config_role_denied if {
	s := with_fields(select_fn(["set_config"]), {"settings": [{"name": "role", "value": "postgres", "local": false}]})
	denied_with(admin(s), "changing the setting role is not allowed")
}

test_set_config_unknown_name_denied if {
	denied_with(admin(select_fn(["pg_catalog.set_config"])), "pg_catalog.set_config with a setting name that is not a literal")
	unknown := with_fields(select_fn(["set_config"]), {"settings": [{"name": "*unknown*", "value": "x", "local": false}]})
	denied_with(admin(unknown), "a setting whose name is not a literal")
	s := with_fields(select_fn(["set_config"]), {"settings": [{"name": null, "value": "x", "local": false}]})
	denied_with(admin(s), "a setting whose name is not a literal")
}

test_set_config_called_twice_with_one_literal_denied if {
	s := with_fields(
		select_fn(["set_config", "set_config"]),
		{"settings": [{"name": "search_path", "value": "sales", "local": false}]},
	)
	denied_with(admin(s), "not a literal")
}

test_set_config_in_ddl_denied if {
	sp := [{"name": "search_path", "value": "pg_catalog, hr", "local": false}]
	view := with_fields(stmt("ddl", "ViewStmt", []), {"functions": ["set_config"], "settings": sp})
	denied_with(admin(view), "set_config in ViewStmt is stored and runs later")
	default_ := with_fields(stmt("ddl", "CreateStmt", []), {"functions": ["pg_catalog.set_config"], "settings": sp})
	denied_with(admin(default_), "pg_catalog.set_config in CreateStmt is stored")
	plain := with_fields(ddl("CreateStmt"), {"functions": ["now"]})
	allowed(admin(plain))
}

test_set_config_search_path_allowed if {
	s := with_fields(select_fn(["set_config"]), {"settings": [{"name": "search_path", "value": "sales", "local": false}]})
	allowed(analyst(s))
}

test_set_config_other_setting_admin_only if {
	s := with_fields(select_fn(["set_config"]), {"settings": [{"name": "enable_seqscan", "value": "off", "local": true}]})
	denied_with(analyst(s), "the setting enable_seqscan may only be changed by admin")
	allowed(admin(s))
}

test_harmless_set_allowed if {
	allowed(analyst(set_stmt("search_path")))
	allowed(analyst(set_stmt("application_name")))
	allowed(analyst(set_stmt("TimeZone")))
	allowed(analyst(set_stmt("statement_timeout")))
	allowed(app_rw(set_stmt("all")))
}

test_other_set_admin_only if {
	denied_with(analyst(set_stmt("enable_seqscan")), "may only be changed by admin")
	allowed(admin(set_stmt("enable_seqscan")))
}

test_set_without_settings_denied_for_restricted if {
	denied_with(analyst(stmt("set", "VariableSetStmt", [])), "VariableSetStmt without a setting name")
}

test_show_allowed_even_for_role if {
	show := with_fields(stmt("show", "VariableShowStmt", []), {"settings": [{"name": "role", "value": null, "local": false}]})
	allowed(analyst(show))
}

test_transaction_control_allowed if {
	allowed(analyst(with_fields(stmt("transaction", "TransactionStmt", []), {"transaction": "begin"})))
	allowed(analyst(with_fields(stmt("transaction", "TransactionStmt", []), {"transaction": "commit"})))
	allowed(app_rw(with_fields(stmt("transaction", "TransactionStmt", []), {"transaction": "savepoint"})))
}

# ---------------------------------------------------------------------------------------------
# COPY

test_copy_program_denied_for_everyone if {
	denied_with(admin(copy_stmt([rel("sales", "orders", "write")], "from", true, false)), "COPY ... PROGRAM")
	denied_with(admin(copy_stmt([orders], "to", true, false)), "PROGRAM")
}

test_copy_server_file_denied_for_everyone if {
	denied_with(admin(copy_stmt([orders], "to", false, true)), "file on the database server")
	denied_with(admin(copy_stmt([rel("sales", "orders", "write")], "from", false, true)), "file on the database server")
}

test_copy_without_analysis_denied if {
	denied_with(admin(stmt("copy", "CopyStmt", [orders])), "PROGRAM")
}

test_copy_to_stdout_follows_read_rules if {
	allowed(analyst(copy_stmt([orders], "to", false, false)))
	denied_with(analyst(copy_stmt([rel("public", "x", "read")], "to", false, false)), "may not read public.x")
}

test_copy_from_stdin_is_a_write if {
	denied_with(analyst(copy_stmt([rel("sales", "orders", "write")], "from", false, false)), "may not write sales.orders")
	allowed(app_rw(copy_stmt([rel("sales", "orders", "write")], "from", false, false)))
}

test_copy_of_masked_relation_denied if {
	denied_with(admin(copy_stmt([employees], "to", false, false)), "COPY would copy masked column")
}

test_copy_of_unmasked_columns_allowed if {
	r := object.union(employees, {"columns": ["id", "name"]})
	allowed(admin(copy_stmt([r], "to", false, false)))
	r2 := object.union(employees, {"columns": ["id", "ssn"]})
	denied_with(admin(copy_stmt([r2], "to", false, false)), "masked column ssn")
}

test_copy_of_masked_relation_allowed_for_hr if {
	allowed(hr_admin(copy_stmt([employees], "to", false, false)))
}

test_copy_query_with_masked_output_denied if {
	s := with_fields(copy_stmt([employees], "to", false, false), {"columns": [col("hr.employees", "ssn", "output")]})
	denied_with(admin(s), "masked column hr.employees.ssn")
}

# ---------------------------------------------------------------------------------------------
# Unknown statements and malformed input

test_unknown_kind_denied_for_everyone if {
	denied_with(admin(stmt("unknown", "", [])), "statement kind unknown is not recognized")
	denied_with(admin(stmt("frobnicate", "X", [])), "frobnicate")
}

test_missing_kind_denied if {
	denied_with(admin(object.remove(stmt("select", "SelectStmt", []), ["kind"])), "statement kind null is not recognized")
}

test_empty_input_denied if {
	d := query.decision with input as {}
	d.allow == false
	count(d.reasons) > 0
}

test_statement_not_an_object_denied if {
	denied_with(admin("SELECT 1"), "no statement to decide")
}

test_unknown_db_role_denied if {
	denied_with(decide("superuser", ["admins"], select_from([orders])), "database role superuser has no query rules")
}

test_load_denied_for_everyone if {
	denied_with(admin(stmt("utility", "LoadStmt", [])), "LoadStmt is not allowed")
}

test_granting_privileged_roles_denied if {
	g := with_fields(stmt("grant", "GrantRoleStmt", []), {"text": "GRANT pg_execute_server_program TO bob"})
	denied_with(admin(g), "predefined role pg_execute_server_program")
	g2 := with_fields(stmt("grant", "GrantRoleStmt", []), {"text": "GRANT analyst TO bob"})
	allowed(admin(g2))
	denied_with(app_rw(g2), "grant statements")
}

# ---------------------------------------------------------------------------------------------
# Nested statements

test_explain_analyze_decides_inner if {
	inner := with_fields(stmt("delete", "DeleteStmt", [rel("sales", "orders", "write")]), {"has_where": false})
	e := with_fields(stmt("explain", "ExplainStmt", []), {"inner": inner, "explain_analyze": true})
	denied_with(app_rw(e), "DELETE without WHERE")
	allowed(analyst(with_fields(stmt("explain", "ExplainStmt", []), {"inner": select_from([orders])})))
}

test_prepare_decides_inner if {
	p := with_fields(stmt("prepare", "PrepareStmt", []), {"prepared_name": "p1", "inner": stmt("insert", "InsertStmt", [rel("sales", "orders", "write")])})
	denied_with(analyst(p), "insert statements")
	allowed(app_rw(p))
}

test_execute_decides_prepared if {
	e := with_fields(stmt("execute", "ExecuteStmt", []), {"prepared_name": "p1", "inner": select_from([employees])})
	denied_with(analyst(e), "may not read hr.employees")
	allowed(analyst(with_fields(stmt("execute", "ExecuteStmt", []), {"prepared_name": "p1", "inner": select_from([orders])})))
}

test_create_table_as_is_ddl_and_checks_inner if {
	ctas := with_fields(ddl("CreateTableAsStmt"), {"inner": select_from([rel("hr", "employees", "read")])})
	denied_with(analyst(ctas), "ddl statements")
	denied_with(analyst(ctas), "may not read hr.employees")
}

test_nesting_too_deep_denied if {
	s := {"kind": "explain", "inner": {"kind": "explain", "inner": {"kind": "explain", "inner": {"kind": "explain", "inner": select_from([])}}}}
	denied_with(admin(s), "nesting is deeper")
}

test_nested_non_object_denied if {
	denied_with(admin(with_fields(stmt("explain", "ExplainStmt", []), {"inner": "SELECT 1"})), "nested statement is not an object")
}

# ---------------------------------------------------------------------------------------------
# Masks

test_masks_returned_for_non_hr if {
	d := analyst(select_from([orders]))
	allowed(d)
	masked_columns(d) == ["email", "salary", "ssn"]
	{"relation": "hr.employees", "column": "ssn", "with": "redact"} in d.mask
	{"relation": "hr.employees", "column": "salary", "with": "null"} in d.mask
	{"relation": "hr.employees", "column": "email", "with": "hash"} in d.mask
}

test_admin_outside_hr_is_masked if {
	d := admin(select_cols([employees], [col("hr.employees", "ssn", "output"), col("hr.employees", "name", "output")]))
	allowed(d)
	masked_columns(d) == ["email", "salary", "ssn"]
}

test_hr_group_unmasked if {
	d := hr_analyst(select_cols([employees], [col("hr.employees", "ssn", "output")]))
	allowed(d)
	d.mask == []
	hr_admin(select_from([employees])).mask == []
}

test_mask_without_relation_applies_everywhere if {
	d := analyst(select_from([orders])) with data.portcullis.masks as [{"column": "card_number", "with": "redact"}]
	d.mask == [{"column": "card_number", "with": "redact"}]
}

# ---------------------------------------------------------------------------------------------
# Inference guard

test_masked_column_in_where_denied if {
	s := select_cols([employees], [col("hr.employees", "name", "output"), col("hr.employees", "ssn", "expression")])
	denied_with(admin(s), "masked column hr.employees.ssn may only be selected as a plain output column")
}

test_masked_column_in_function_denied if {
	s := select_cols([employees], [col("hr.employees", "salary", "expression")])
	denied_with(admin(s), "hr.employees.salary")
}

test_whole_row_of_masked_relation_denied if {
	s := select_cols([employees], [col("hr.employees", "*", "expression")])
	denied_with(admin(s), "masked column hr.employees.*")
}

test_star_output_allowed if {
	s := select_cols([employees], [col("hr.employees", "*", "output")])
	d := admin(s)
	allowed(d)
	masked_columns(d) == ["email", "salary", "ssn"]
}

test_unknown_relation_with_masked_name_denied if {
	s := select_cols([employees, orders], [col(null, "email", "expression")])
	denied_with(admin(s), "masked column email (relation unknown)")
}

test_unknown_relation_masked_name_in_output_allowed if {
	allowed(admin(select_cols([employees], [col(null, "email", "output")])))
}

test_unqualified_relation_name_matches_mask if {
	s := select_cols([unresolved("employees", "read")], [col("employees", "ssn", "expression")])
	denied_with(admin(s), "masked column employees.ssn")
}

test_unknown_whole_row_with_masked_relation_denied if {
	s := select_cols([employees], [col(null, "*", "expression")])
	denied_with(admin(s), "masked column * (relation unknown)")
}

test_unknown_whole_row_without_masked_relation_allowed if {
	allowed(analyst(select_cols([orders], [col(null, "*", "expression")])))
}

test_unmasked_column_in_expression_allowed if {
	s := select_cols([employees], [col("hr.employees", "name", "expression"), col("hr.employees", "id", "expression")])
	allowed(admin(s))
}

test_other_relation_same_column_allowed if {
	allowed(analyst(select_cols([orders], [col("sales.orders", "email", "expression")])))
}

test_hr_group_not_guarded if {
	s := select_cols([employees], [col("hr.employees", "ssn", "expression"), col("hr.employees", "*", "expression")])
	allowed(hr_admin(s))
	allowed(hr_analyst(s))
}

test_guard_missing_context_counts_as_expression if {
	s := select_cols([employees], [{"relation": "hr.employees", "column": "ssn"}])
	denied_with(admin(s), "hr.employees.ssn")
}

test_inference_allow_from_data if {
	s := select_cols([employees], [col("hr.employees", "salary", "expression")])
	allowances := [{"relation": "hr.employees", "column": "salary", "db_roles": ["admin"]}]
	allowed(admin(s)) with data.portcullis.inference_allow as allowances
	denied_with(admin(select_cols([employees], [col("hr.employees", "ssn", "expression")])), "ssn") with data.portcullis.inference_allow as allowances
	by_group := [{"relation": "hr.employees", "column": "salary", "groups": ["payroll"]}]
	denied_with(admin(s), "salary") with data.portcullis.inference_allow as by_group
	allowed(decide("admin", ["admins", "payroll"], s)) with data.portcullis.inference_allow as by_group
}

test_inference_allow_needs_a_known_relation if {
	s := select_cols([employees], [col(null, "salary", "expression")])
	allowances := [{"relation": "hr.employees", "column": "salary"}]
	denied_with(admin(s), "salary") with data.portcullis.inference_allow as allowances
}

test_create_table_as_with_masked_output_denied if {
	inner := select_cols([employees], [col("hr.employees", "ssn", "output")])
	ctas := with_fields(ddl("CreateTableAsStmt"), {"inner": inner})
	denied_with(admin(ctas), "masked column hr.employees.ssn")
	allowed(hr_admin(ctas))
}

test_insert_select_star_from_masked_denied if {
	s := with_fields(
		stmt("insert", "InsertStmt", [rel("sales", "t", "write"), employees]),
		{"columns": [col("hr.employees", "*", "output")]},
	)
	denied_with(admin(s), "masked column hr.employees.*")
}

test_insert_select_without_columns_from_masked_denied if {
	s := stmt("insert", "InsertStmt", [rel("sales", "t", "write"), employees])
	denied_with(admin(s), "INSERT would copy masked column")
}

test_update_of_masked_table_with_plain_columns_allowed if {
	s := with_fields(
		stmt("update", "UpdateStmt", [rel("hr", "employees", "write")]),
		{"has_where": true, "columns": [col("hr.employees", "name", "expression"), col("hr.employees", "id", "expression")]},
	)
	allowed(admin(s))
}

test_update_filtering_on_masked_column_denied if {
	s := with_fields(
		stmt("update", "UpdateStmt", [rel("hr", "employees", "write")]),
		{"has_where": true, "columns": [col("hr.employees", "salary", "expression")]},
	)
	denied_with(admin(s), "hr.employees.salary")
}

# ---------------------------------------------------------------------------------------------
# Cacheability

test_default_policy_cacheable if {
	query.cacheable with input as query_input("analyst", ["analysts"], select_from([orders]))
}

test_cacheable_can_be_turned_off if {
	not query.cacheable with input as query_input("analyst", ["analysts"], select_from([orders]))
		with data.portcullis.query_decisions_cacheable as false
}

test_plain_reads_and_writes_are_cacheable_by_shape if {
	query.cacheable_by_shape with input as query_input("analyst", ["analysts"], select_from([orders]))
	query.cacheable_by_shape with input as query_input("app_rw", ["engineers"], stmt("update", "UpdateStmt", [rel("sales", "orders", "write")]))
}

test_statements_whose_literals_matter_are_not_cacheable_by_shape if {
	# settings carry literal values (SET, set_config): their decision depends on them
	not query.cacheable_by_shape with input as query_input("analyst", ["analysts"], set_stmt("search_path"))
	not query.cacheable_by_shape with input as query_input(
		"analyst", ["analysts"],
		with_fields(select_from([]), {"settings": [{"name": "search_path", "value": "hr", "local": false}]}),
	)

	# grant/role/ddl decisions read the text
	not query.cacheable_by_shape with input as query_input("admin", ["admins"], stmt("grant", "GrantRoleStmt", []))
	not query.cacheable_by_shape with input as query_input("admin", ["admins"], stmt("ddl", "CreateStmt", []))
}

test_nothing_is_cacheable_by_shape_when_caching_is_off if {
	not query.cacheable_by_shape with input as query_input("analyst", ["analysts"], select_from([orders]))
		with data.portcullis.query_decisions_cacheable as false
}

test_decision_ignores_time_and_position if {
	base := query_input("admin", ["admins"], select_from([orders]))
	later := object.union(base, {"now_ns": 1, "statement_index": 3, "statement_count": 9, "protocol": "extended"})
	d1 := query.decision with input as base
	d2 := query.decision with input as later
	d1 == d2
}

# ---------------------------------------------------------------------------------------------
# The decision shape

test_reasons_always_an_array if {
	is_array(analyst(select_from([orders])).reasons)
	is_array(analyst(select_from([employees])).reasons)
}

test_reasons_sorted_and_all_reported if {
	d := analyst(with_fields(stmt("delete", "DeleteStmt", [rel("hr", "employees", "write")]), {"has_where": false}))
	count(d.reasons) == 3
	d.reasons == sort(d.reasons)
}

test_denied_decision_has_no_mask if {
	not analyst(select_from([employees])).mask
}

# ---------------------------------------------------------------------------------------------
# Code and masks

test_masked_admin_may_not_run_code if {
	denied_with(admin(stmt("do", "DoStmt", [])), "could read masked columns")
	denied_with(admin(stmt("ddl", "CreateFunctionStmt", [])), "could read masked columns")
}

test_admin_exempt_from_every_mask_may_run_code if {
	d := query.decision with input as query_input("admin", ["admins", "hr"], stmt("do", "DoStmt", []))
	d.allow
}

# ---------------------------------------------------------------------------------------------
# DDL on masked relations (a rename moves what the masks name; an index is an oracle)

test_masked_session_may_not_rename_a_masked_column if {
	s := stmt("ddl", "RenameStmt", [rel("hr", "employees", "write")])
	denied_with(admin(s), "RenameStmt on masked relation hr.employees is not allowed for a session with masks")
	allowed(hr_admin(s))
}

test_masked_session_may_not_index_a_masked_relation if {
	denied_with(admin(stmt("ddl", "IndexStmt", [rel("hr", "employees", "write")])), "IndexStmt on masked relation")
	denied_with(admin(stmt("ddl", "CreateTrigStmt", [rel("hr", "employees", "write")])), "on masked relation")
	denied_with(admin(stmt("ddl", "AlterObjectSchemaStmt", [rel("hr", "employees", "write")])), "on masked relation")
	denied_with(admin(stmt("ddl", "CommentStmt", [unresolved("employees", "write")])), "on masked relation")
	denied_with(admin(stmt("utility", "VacuumStmt", [rel("hr", "employees", "write")])), "on masked relation")
}

test_masked_session_may_not_reference_a_masked_relation_from_a_constraint if {
	s := stmt("ddl", "AlterTableStmt", [rel("public", "t", "write"), rel("hr", "employees", "read")])
	denied_with(admin(s), "AlterTableStmt on masked relation hr.employees")
}

test_masked_session_ddl_elsewhere_allowed if {
	allowed(admin(stmt("ddl", "IndexStmt", [rel("sales", "orders", "write")])))
	allowed(admin(with_fields(ddl("CreateTableAsStmt"), {"inner": select_cols([employees], [col("hr.employees", "name", "output")])})))
}

test_masked_session_may_not_rename_a_schema if {
	denied_with(admin(stmt("ddl", "RenameStmt", [])), "renaming a schema or any object other than a relation")
	allowed(hr_admin(stmt("ddl", "RenameStmt", [])))
}

# ---------------------------------------------------------------------------------------------
# Relations that show rows of a masked relation, foreign tables, names after DDL in a transaction

staff_view := object.union(rel("hr", "staff", "read"), {"relkind": "view", "sources": ["hr.employees"]})

archive := object.union(rel("hr", "employees_archive", "read"), {"relkind": "table", "sources": ["hr.employees"]})

test_view_over_masked_relation_denied_to_masked_sessions if {
	denied_with(admin(select_from([staff_view])), "relation hr.staff shows rows of masked relation hr.employees")
	denied_with(analyst(select_from([staff_view])), "shows rows of masked relation hr.employees")
}

test_inheritance_child_of_masked_relation_denied if {
	denied_with(admin(select_from([archive])), "relation hr.employees_archive shows rows of masked relation hr.employees")
}

test_view_over_masked_relation_allowed_without_masks if {
	allowed(hr_admin(select_from([staff_view])))
	allowed(hr_admin(select_from([archive])))
}

test_ddl_on_view_over_masked_relation_denied if {
	s := stmt("ddl", "ViewStmt", [object.union(staff_view, {"access": "write"})])
	denied_with(admin(s), "shows rows of masked relation")
}

test_view_over_unmasked_relation_allowed if {
	v := object.union(rel("sales", "big_orders", "read"), {"relkind": "view", "sources": ["sales.orders"]})
	allowed(admin(select_from([v])))
}

test_view_listed_with_its_own_masks_allowed if {
	ms := [
		{"relation": "hr.employees", "column": "ssn", "with": "redact"},
		{"relation": "hr.staff", "column": "ssn", "with": "redact"},
	]
	allowed(admin(select_from([staff_view]))) with data.portcullis.masks as ms
}

test_unresolved_view_name_matches_by_its_sources if {
	v := object.union(unresolved("staff", "read"), {"relkind": "view", "sources": ["hr.employees"]})
	denied_with(admin(select_from([v])), "shows rows of masked relation hr.employees")
}

test_foreign_table_denied_to_masked_sessions if {
	f := object.union(rel("hr", "employees_remote", "read"), {"relkind": "foreign_table", "sources": []})
	denied_with(admin(select_from([f])), "foreign table hr.employees_remote is not allowed for a session with masks")
	allowed(hr_admin(select_from([f])))
}

test_unqualified_name_after_ddl_denied_to_masked_sessions if {
	s := with_fields(stmt("ddl", "RenameStmt", [unresolved("employees", "write")]), {"ddl_in_transaction": true})
	denied_with(admin(s), "relation employees is named without a schema after DDL in this transaction")
	r := with_fields(select_from([unresolved("orders", "read")]), {"ddl_in_transaction": true})
	denied_with(admin(r), "named without a schema after DDL")
}

test_unqualified_name_with_an_unknown_search_path_denied_to_masked_sessions if {
	s := with_fields(select_from([unresolved("staff", "read")]), {"search_path_unknown": true})
	denied_with(admin(s), "relation staff is named without a schema while the search_path is unknown to Portcullis")
	allowed(hr_admin(s))
	allowed(admin(with_fields(select_from([orders]), {"search_path_unknown": true})))
}

test_unqualified_name_before_a_view_of_a_masked_relation_denied if {
	r := object.union(rel("public", "staff", "read"), {"unqualified": true, "hides": ["hr.staff", "hr.employees"]})
	denied_with(admin(select_from([r])), "relation staff (resolved to public.staff) has the name of a relation later on the search_path that is or shows masked relation hr.employees")
	allowed(hr_admin(select_from([r])))
	harmless := object.union(rel("public", "orders", "read"), {"unqualified": true, "hides": ["sales.orders"]})
	allowed(admin(select_from([harmless])))
}

test_qualified_name_after_ddl_allowed if {
	s := with_fields(select_from([orders]), {"ddl_in_transaction": true})
	allowed(admin(s))
}

test_unqualified_name_after_ddl_allowed_without_masks if {
	s := with_fields(select_from([unresolved("orders", "read")]), {"ddl_in_transaction": true})
	allowed(hr_admin(s))
}

test_unqualified_name_of_a_masked_relation_in_another_schema_denied if {
	r := object.union(rel("public", "employees", "read"), {"unqualified": true})
	denied_with(admin(select_from([r])), "relation employees (resolved to public.employees) has the name of masked relation hr.employees")
	allowed(hr_admin(select_from([r])))
	allowed(admin(select_from([rel("public", "employees", "read")])))
	allowed(admin(select_from([object.union(rel("sales", "orders", "read"), {"unqualified": true})])))
}

test_unqualified_name_resolved_to_the_masked_relation_allowed if {
	r := object.union(rel("hr", "employees", "read"), {"unqualified": true})
	allowed(admin(select_cols([r], [col("hr.employees", "ssn", "output")])))
}
