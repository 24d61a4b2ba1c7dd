/**
 * The fast path of a signed message the control plane also stores in a stream (revocations, grants):
 * one core NATS publish, synchronous, on the link's connection whether JetStream is ready or not
 * (NatsLink.coreConnection). False when there is no connection or the client refused the message; the
 * stream's copy is the durable path either way.
 */
import type { Logger } from "../../common/logger.js";
import type { NatsLink } from "../../common/nats-link.js";
import { encodeBusMessage } from "../../proto/bus.js";

export function publishFast(
  link: NatsLink,
  subject: string,
  message: { id: string },
  logger: Logger,
  what: string,
): boolean {
  const nc = link.coreConnection;
  if (!nc) return false;
  try {
    nc.publish(subject, encodeBusMessage(message));
    return true;
  } catch (err) {
    logger.debug({ id: message.id, err: (err as Error).message }, `fast ${what} not sent`);
    return false;
  }
}
