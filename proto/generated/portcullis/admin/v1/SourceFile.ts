// Original file: proto/admin.proto


export interface SourceFile {
  'path'?: (string);
  'content'?: (Buffer | Uint8Array | string);
}

export interface SourceFile__Output {
  'path': (string);
  'content': (Buffer);
}
