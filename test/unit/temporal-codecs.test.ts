import { temporal } from '@temporalio/proto';
import type { Service, Type } from 'protobufjs';
import { API_TEMPORAL_CALLS, primeTemporalCodecs } from '../../lib/temporal-codecs';

/** A type whose coders are built has them as its own properties; until then the prototype's stubs build them on first use. */
const built = (type: Type) => Object.hasOwn(type, 'encode') && Object.hasOwn(type, 'decode');

describe('primeTemporalCodecs', () => {
  it("builds the coders of every message type the API's Temporal calls send and receive, nested ones included", () => {
    const payload = temporal.api.common.v1.Payload as unknown as Type;
    const multiOp = (temporal.api.workflowservice.v1.WorkflowService as unknown as Service).methods.ExecuteMultiOperation!;
    expect(built(payload)).toBe(false);
    const primed = primeTemporalCodecs();
    expect(primed).toBeGreaterThan(50);
    expect(built(multiOp.resolvedRequestType!)).toBe(true);
    expect(built(multiOp.resolvedResponseType!)).toBe(true);
    expect(built(payload)).toBe(true); // deep inside an update's arguments
    // A call the API does not make stays lazy.
    const listNamespaces = (temporal.api.workflowservice.v1.WorkflowService as unknown as Service).methods.ListNamespaces!;
    listNamespaces.resolve();
    expect(built(listNamespaces.resolvedRequestType!)).toBe(false);
  });

  it('names only calls the service has', () => {
    expect(() => primeTemporalCodecs([...API_TEMPORAL_CALLS, 'NoSuchCall'])).toThrow('no WorkflowService call NoSuchCall');
  });
});
