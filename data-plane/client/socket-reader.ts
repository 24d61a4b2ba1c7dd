import type { Socket } from "node:net";
import { ProtocolError } from "../protocol/errors.js";
import {
  FrontendFramer,
  type FrontendMessage,
  parseStartupPacket,
  type StartupPacket,
} from "../protocol/frontend-messages.js";

/**
 * Pull-style reading for the short login conversation (start-up packets, the password message).
 * After login the relay takes the socket over with `release()`, which hands back any bytes read ahead.
 */
export class SocketReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private closed: Error | undefined;
  private readonly framer = new FrontendFramer();
  /** True while a TLS handshake runs on the socket (nothing may be written on it in clear then). */
  handshaking = false;

  constructor(private socket: Socket) {
    this.attach(socket);
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.wake();
  };
  private readonly onEnd = () => {
    this.closed ??= new ProtocolError("client closed the connection");
    this.wake();
  };
  private readonly onError = (err: Error) => {
    this.closed ??= err;
    this.wake();
  };

  private attach(socket: Socket): void {
    this.socket = socket;
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onEnd);
    socket.on("error", this.onError);
  }

  private detach(): void {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("close", this.onEnd);
    this.socket.off("error", this.onError);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async more(): Promise<void> {
    if (this.closed) throw this.closed;
    await new Promise<void>((resolve) => {
      this.waiter = resolve;
    });
    if (this.closed && this.buffer.length === 0) throw this.closed;
  }

  /** The socket the client is read from (the TLS one once TLS is up). */
  get current(): Socket {
    return this.socket;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  async readStartupPacket(): Promise<StartupPacket> {
    for (;;) {
      const parsed = parseStartupPacket(this.buffer);
      if (parsed) {
        this.buffer = this.buffer.subarray(parsed.consumed);
        return parsed.packet;
      }
      await this.more();
    }
  }

  /** Reads one typed message of at most `limit` bytes (the length word included). */
  async readMessage(limit: number): Promise<FrontendMessage> {
    this.framer.setMaxMessage(limit);
    for (;;) {
      if (this.buffer.length > 0) {
        this.framer.push(this.buffer);
        this.buffer = Buffer.alloc(0);
      }
      const message = this.framer.next();
      if (message) {
        this.buffer = this.framer.drain();
        return message;
      }
      // keep partial bytes in the framer; wait for more
      this.buffer = Buffer.alloc(0);
      await this.more();
    }
  }

  /** Switches to a new (TLS) socket; bytes read ahead on the old one are a protocol violation. */
  replaceSocket(socket: Socket): void {
    if (this.buffer.length > 0 || this.framer.bufferedBytes > 0) {
      throw new ProtocolError("received unencrypted data after SSL request");
    }
    this.detach();
    this.attach(socket);
  }

  /** Stops reading; returns bytes read ahead, which belong to the next stage. */
  release(): Buffer {
    this.detach();
    const rest = Buffer.concat([this.framer.drain(), this.buffer]);
    this.buffer = Buffer.alloc(0);
    return rest;
  }
}
