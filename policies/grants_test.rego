package portcullis.grants_test

import data.portcullis.connection
import data.portcullis.query

token(sub, groups) := {"iss": "https://idp.example", "sub": sub, "aud": "portcullis", "exp": 2000000000, "groups": groups}

conn(tok) := {
	"token": tok,
	"startup": {"user": "x", "database": "app", "application_name": "psql", "options": ""},
	"client": {"addr": "10.0.0.5", "port": 51234, "tls": {"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256"}},
	"proxy": {"id": "dp-1", "region": "eu", "labels": {}},
	"now_ns": 1700000000000000000,
}

role_grant := {"mallory": [{"id": "g1", "role": "app_rw", "expires_at": "2030-01-01T00:00:00Z"}]}

test_role_grant_maps_an_unmapped_subject if {
	d := connection.decision with input as conn(token("mallory", ["contractors"]))
		with data.portcullis.grants as role_grant
	d.allow == true
	d.db_role == "app_rw"
}

test_without_the_grant_the_subject_is_denied if {
	d := connection.decision with input as conn(token("mallory", ["contractors"]))
	d.allow == false
}

test_role_grant_wins_over_the_mapping if {
	d := connection.decision with input as conn(token("mallory", ["analysts"]))
		with data.portcullis.grants as role_grant
	d.db_role == "app_rw"
}

test_role_grant_is_for_its_subject_only if {
	d := connection.decision with input as conn(token("alice", ["contractors"]))
		with data.portcullis.grants as role_grant
	d.allow == false
}

test_unknown_granted_role_is_ignored if {
	d := connection.decision with input as conn(token("mallory", ["analysts"]))
		with data.portcullis.grants as {"mallory": [{"id": "g1", "role": "superuser", "expires_at": "2030-01-01T00:00:00Z"}]}
	d.db_role == "analyst"
}

test_several_role_grants_pick_the_first_by_name if {
	d := connection.decision with input as conn(token("mallory", []))
		with data.portcullis.grants as {"mallory": [
			{"id": "g2", "role": "app_rw", "expires_at": "2030-01-01T00:00:00Z"},
			{"id": "g1", "role": "analyst", "expires_at": "2030-01-01T00:00:00Z"},
		]}
	d.db_role == "analyst"
}

hr_select(sub) := {
	"session": {"id": "s1", "subject": sub, "claims": token(sub, ["analysts"]), "db_role": "analyst", "database": "app", "region": "eu"},
	"statement": {
		"kind": "select",
		"command": "SelectStmt",
		"relations": [{"schema": "hr", "name": "employees", "access": "read", "resolved": true}],
		"functions": [],
		"settings": [],
	},
	"protocol": "simple",
	"statement_index": 0,
	"statement_count": 1,
	"now_ns": 1700000000000000000,
}

schema_grant := {"alice": [{"id": "g3", "schema": "hr", "expires_at": "2030-01-01T00:00:00Z"}]}

test_schema_grant_allows_reading_the_schema if {
	d := query.decision with input as hr_select("alice") with data.portcullis.grants as schema_grant
	d.allow == true
}

test_without_schema_grant_reading_is_denied if {
	d := query.decision with input as hr_select("alice")
	d.allow == false
}

test_schema_grant_is_for_its_subject_only if {
	d := query.decision with input as hr_select("erin") with data.portcullis.grants as schema_grant
	d.allow == false
}

# A grant names a `sub`, and a `sub` is only unique within its issuer: with several issuers, a token
# of another issuer carrying the same `sub` is another person and must not get the grant.
partner_token(sub, groups) := object.union(token(sub, groups), {"iss": "https://partner.example"})

hr_select_partner(sub) := object.union(hr_select(sub), {"session": object.union(hr_select(sub).session, {"claims": partner_token(sub, ["analysts"])})})

test_role_grant_is_not_for_the_same_sub_of_an_untrusted_issuer if {
	d := connection.decision with input as conn(partner_token("mallory", ["contractors"]))
		with data.portcullis.grants as role_grant
		with data.portcullis.group_issuers as ["https://idp.example"]
	d.allow == false
}

test_role_grant_holds_for_its_issuer_when_group_issuers_is_set if {
	d := connection.decision with input as conn(token("mallory", ["contractors"]))
		with data.portcullis.grants as role_grant
		with data.portcullis.group_issuers as ["https://idp.example"]
	d.db_role == "app_rw"
}

test_schema_grant_is_not_for_the_same_sub_of_an_untrusted_issuer if {
	d := query.decision with input as hr_select_partner("alice")
		with data.portcullis.grants as schema_grant
		with data.portcullis.group_issuers as ["https://idp.example"]
	d.allow == false
}

test_schema_grant_holds_for_its_issuer_when_group_issuers_is_set if {
	d := query.decision with input as hr_select("alice")
		with data.portcullis.grants as schema_grant
		with data.portcullis.group_issuers as ["https://idp.example"]
	d.allow == true
}
