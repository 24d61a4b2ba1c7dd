// Original file: proto/admin.proto


export interface WatchEventsRequest {
  'kinds'?: (string)[];
}

export interface WatchEventsRequest__Output {
  'kinds': (string)[];
}
