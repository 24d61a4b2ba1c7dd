/** The real OIDC provider lives in devstack/ (the demo runs it too); tests import it from here. */
export * from "../../devstack/oidc.js";
