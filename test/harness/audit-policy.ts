/**
 * The policy change the rollout tests and benches carry: during an audit analysts lose
 * sales.customers (sales.orders stays). Committed as `policies/audit.rego` on top of the defaults.
 */
export const AUDIT_REASON = "sales.customers is closed to analysts during the audit";

export const AUDIT_REGO = `package portcullis.query

# During the customer-data audit, analysts may not read sales.customers.
deny contains "${AUDIT_REASON}" if {
	db_role == "analyst"
	some s in statements
	some r in object.get(s, "relations", [])
	r.schema == "sales"
	r.name == "customers"
}
`;
