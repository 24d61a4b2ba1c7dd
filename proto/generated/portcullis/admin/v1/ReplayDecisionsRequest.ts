// Original file: proto/admin.proto


export interface ReplayDecisionsRequest {
  'against'?: (string);
  'last'?: (number);
  'since'?: (string);
  'max_flips'?: (number);
  'top'?: (number);
  'evaluate_all'?: (boolean);
}

export interface ReplayDecisionsRequest__Output {
  'against': (string);
  'last': (number);
  'since': (string);
  'max_flips': (number);
  'top': (number);
  'evaluate_all': (boolean);
}
