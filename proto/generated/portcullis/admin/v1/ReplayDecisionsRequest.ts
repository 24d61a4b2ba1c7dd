// Original file: proto/admin.proto


export interface ReplayDecisionsRequest {
  'against'?: (string);
  'last'?: (number);
  'since'?: (string);
  'max_flips'?: (number);
  'top'?: (number);
}

export interface ReplayDecisionsRequest__Output {
  'against': (string);
  'last': (number);
  'since': (string);
  'max_flips': (number);
  'top': (number);
}
