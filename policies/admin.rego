# METADATA
# title: Admin API decision
# description: |
#   Authorizes admin API calls. Input: proto/policy.ts AdminInput. Output: AdminDecision, always defined.
#   data.portcullis.admin_api.group_methods maps a token group to the methods it may call
#   ("*" for every method). The method may be given bare ("ListSessions") or as a gRPC path
#   ("/portcullis.admin.v1.Admin/ListSessions").
package portcullis.admin

import data.portcullis.lib

default group_methods := {}

group_methods := data.portcullis.admin_api.group_methods

groups := lib.claim_set(object.get(input, "token", {}), "groups")

method := name if {
	is_string(input.method)
	parts := split(input.method, "/")
	name := parts[count(parts) - 1]
	name != ""
}

permitted if {
	some g in groups
	some allowed in object.get(group_methods, g, [])
	allowed in {"*", method}
}

default decision := {"allow": false, "reasons": ["admin policy reached no decision"]}

decision := {"allow": true, "reasons": []} if permitted

decision := {"allow": false, "reasons": [msg]} if {
	not permitted
	msg := sprintf("%s may not call %s: no group of the token (%s) grants it", [
		lib.label(object.get(input, ["token", "sub"], null)),
		lib.label(object.get(input, "method", null)),
		concat(", ", sort(groups)),
	])
}
