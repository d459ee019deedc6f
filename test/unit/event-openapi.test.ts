import { eventsOpenApiDocument } from '../../internal/event-stream/event-openapi';
import { EVENT_BODIES, EVENT_TYPES, parseEventEntry } from '../../internal/event-stream/event-types';

/** The events' OpenAPI 3.1 webhooks section is generated from the schemas the stream reader checks with. */
test('every event type is a webhook of the OpenAPI 3.1 document, with the Standard Webhooks headers', () => {
  const doc = eventsOpenApiDocument('1') as unknown as { openapi: string; webhooks: Record<string, { post: { parameters: Array<{ name: string }> } }> };
  expect(doc.openapi).toBe('3.1.0');
  expect(Object.keys(doc.webhooks).sort()).toEqual([...EVENT_TYPES].sort());
  for (const t of EVENT_TYPES) {
    expect(doc.webhooks[t]!.post.parameters.map((p) => p.name).sort()).toEqual(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
  }
});

test.each<[string, Record<string, string>, string | null]>([
  ['a valid advance', { type: 'window.advanced', time: '1732441234567', body: '{"queue":"q","epoch":"e","fromTicket":1,"toTicket":3,"counter":9,"windowSize":3,"lagMs":0}' }, null],
  ['an unknown type', { type: 'queue.exploded', time: '1', body: '{}' }, 'unknown type'],
  ['a time that is not an integer', { type: 'queue.deleted', time: 'nan', body: '{"queue":"q","version":1}' }, 'invalid time'],
  ['a body missing a field', { type: 'queue.deleted', time: '1', body: '{"queue":"q"}' }, 'version'],
  ['a negative ticket', { type: 'pass.claimed', time: '1', body: '{"queue":"q","jti":"j","epoch":"e","ticket":-1,"expMs":5}' }, 'ticket'],
])('parseEventEntry: %s', (_name, fields, error) => {
  const read = () => parseEventEntry('q', { id: '1732441234567-0', fields });
  if (error === null) {
    expect(read()).toMatchObject({ id: 'evt_q_1732441234567-0', type: fields.type, time: '2024-11-24T09:40:34.567Z' });
    expect(EVENT_BODIES['window.advanced'].safeParse(read().data).success).toBe(true);
  } else {
    expect(read).toThrow(error);
  }
});
