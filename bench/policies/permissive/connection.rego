# METADATA
# title: Connection decision (permissive bench policy)
# description: |
#   A token whose groups hold a value of data.portcullis.role_mapping opens a session as that
#   entry's db_role, on any database of data.portcullis.allowed_databases.
package portcullis.connection

default allowed_databases := []

allowed_databases := data.portcullis.allowed_databases

default role_mapping := []

role_mapping := data.portcullis.role_mapping

groups := {g | some g in object.get(input, ["token", "groups"], []); is_string(g)}

database := object.get(input, ["startup", "database"], null)

matches := [i | some i, m in role_mapping; m.value in groups]

db_role := role_mapping[min(matches)].db_role

default decision := {"allow": false, "reasons": ["no role is mapped for the token's groups, or the database is not allowed"]}

decision := {
	"allow": true,
	"reasons": [],
	"db_role": db_role,
	"max_session_seconds": data.portcullis.max_session_seconds,
} if {
	db_role
	database in allowed_databases
}
