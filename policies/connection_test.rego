package portcullis.connection_test

import data.portcullis.connection

token(groups) := {
	"iss": "https://idp.example",
	"sub": "alice",
	"aud": "portcullis",
	"exp": 2000000000,
	"groups": groups,
}

conn_input(tok, database) := {
	"token": tok,
	"startup": {"user": "alice", "database": database, "application_name": "psql", "options": ""},
	"client": {"addr": "10.0.0.5", "port": 51234, "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256"}},
	"proxy": {"id": "dp-1", "region": "eu", "labels": {}},
	"now_ns": 1700000000000000000,
}

decide(groups) := d if {
	d := connection.decision with input as conn_input(token(groups), "app")
}

denied_with(d, fragment) if {
	d.allow == false
	some r in d.reasons
	contains(r, fragment)
}

test_analysts_map_to_analyst if {
	d := decide(["analysts"])
	d.allow == true
	d.db_role == "analyst"
	d.reasons == []
}

test_engineers_map_to_app_rw if {
	d := decide(["engineers"])
	d.allow == true
	d.db_role == "app_rw"
}

test_admins_map_to_admin if {
	d := decide(["admins"])
	d.allow == true
	d.db_role == "admin"
}

test_hr_maps_to_analyst if {
	decide(["hr"]).db_role == "analyst"
}

test_admins_win_over_other_groups if {
	decide(["analysts", "engineers", "admins"]).db_role == "admin"
	decide(["analysts", "engineers"]).db_role == "app_rw"
}

test_roles_claim_maps_too if {
	tok := object.union(token([]), {"roles": ["portcullis-admin"]})
	d := connection.decision with input as conn_input(tok, "app")
	d.db_role == "admin"
}

test_groups_claim_as_a_string if {
	decide("engineers").db_role == "app_rw"
}

test_unknown_group_denied_with_reason if {
	d := decide(["marketing"])
	denied_with(d, "no database role is mapped for alice")
	denied_with(d, "marketing")
	not d.db_role
}

test_no_groups_denied if {
	tok := object.remove(token([]), ["groups"])
	d := connection.decision with input as conn_input(tok, "app")
	denied_with(d, "no database role")
}

test_non_string_groups_ignored if {
	denied_with(decide([1, {"admins": true}, null]), "no database role")
}

test_database_outside_allowed_denied if {
	d := connection.decision with input as conn_input(token(["admins"]), "postgres")
	denied_with(d, "database postgres is not allowed")
}

test_missing_database_denied if {
	d := connection.decision with input as {"token": token(["admins"])}
	denied_with(d, "database null is not allowed")
}

test_both_reasons_reported if {
	d := connection.decision with input as conn_input(token(["nobody"]), "template1")
	count(d.reasons) == 2
}

test_allowed_databases_from_data if {
	d := connection.decision with input as conn_input(token(["analysts"]), "reporting")
		with data.portcullis.allowed_databases as ["app", "reporting"]
	d.allow == true
}

test_malformed_allowed_databases_fails_closed if {
	d := connection.decision with input as conn_input(token(["analysts"]), "app")
		with data.portcullis.allowed_databases as null
	d.allow == false
}

test_max_session_default_eight_hours if {
	decide(["analysts"]).max_session_seconds == 28800
}

test_max_session_per_role if {
	decide(["admins"]).max_session_seconds == 14400
}

test_max_session_from_data if {
	d := connection.decision with input as conn_input(token(["engineers"]), "app")
		with data.portcullis.max_session_seconds as 600
	d.max_session_seconds == 600
}

test_decision_defined_for_empty_input if {
	d := connection.decision with input as {}
	d.allow == false
	count(d.reasons) > 0
}

test_decision_defined_without_data if {
	d := connection.decision with input as conn_input(token(["admins"]), "app")
		with data.portcullis.role_mapping as []
	denied_with(d, "no database role")
}

test_reasons_always_an_array if {
	is_array(decide(["analysts"]).reasons)
	is_array(decide(["nobody"]).reasons)
}

# With several issuers, a group maps only for the issuer the entry (or group_issuers) trusts.
other_issuer_token(groups) := object.union(token(groups), {"iss": "https://other-idp.example"})

test_mapping_with_issuer_only_for_that_issuer if {
	mapping := [{"claim": "groups", "value": "admins", "db_role": "admin", "issuer": "https://idp.example"}]
	d := connection.decision with input as conn_input(token(["admins"]), "app") with data.portcullis.role_mapping as mapping
	d.db_role == "admin"
	e := connection.decision with input as conn_input(other_issuer_token(["admins"]), "app")
		with data.portcullis.role_mapping as mapping
	denied_with(e, "no database role")
}

test_group_issuers_limit_entries_without_issuer if {
	f := connection.decision with input as conn_input(other_issuer_token(["admins"]), "app")
		with data.portcullis.group_issuers as ["https://idp.example"]
	denied_with(f, "no database role")
	g := connection.decision with input as conn_input(token(["admins"]), "app")
		with data.portcullis.group_issuers as ["https://idp.example"]
	g.db_role == "admin"
}

test_one_issuer_needs_no_issuer_in_entries if {
	decide(["admins"]).db_role == "admin"
	d := connection.decision with input as conn_input(other_issuer_token(["analysts"]), "app")
	d.db_role == "analyst"
}
