-- complete_message is complete_messages of one item: it raises the SQLSTATE and message
-- the batch reports for that item (claim_lost with the one DETAIL and HINT of WA001,
-- rejected with its error_code), and returns the batch's result for a done item.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('2507000000' || n, 'hi', 'wamid.' || n) from generate_series(11, 13) n;
create temp table c on commit drop as
select m.wamid, q as msg_id from wapipe_tests.claim('worker-1') q join wapipe.processed_messages m on m.queue_msg_id = q;
create temp table items on commit drop as
select * from (values
  ('worker-2', jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.11'),
                                  'reply', '{"type": "text", "text": {"body": "x"}}'::jsonb)),
  ('worker-1', jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.12'),
                                  'reply', '[{"text": {"body": "no type"}}]'::jsonb)),
  ('worker-1', jsonb_build_object('msg_id', (select msg_id from c where wamid = 'wamid.13'),
                                  'memory', '{"memory_id": 1.5, "append": [{"role": "user", "content": "x"}]}'::jsonb))
) v(worker, item);

-- what the batch reports (a refused item leaves no trace) ...
create temp table batch on commit drop as
select i.item->>'msg_id' as msg_id, r.error_code, r.error
from items i cross join lateral wapipe.complete_messages(i.worker, jsonb_build_array(i.item)) r;
-- ... and what the single raises for the same items
create temp table single (msg_id text, code text, message text, detail text, hint text) on commit drop;
do $$
declare
  i record;
  v_code text; v_message text; v_detail text; v_hint text;
begin
  for i in select * from items loop
    begin
      perform wapipe.complete_message((i.item->>'msg_id')::bigint, i.worker, i.item->'reply', i.item->'memory');
    exception when others then
      get stacked diagnostics v_code = returned_sqlstate, v_message = message_text,
                              v_detail = pg_exception_detail, v_hint = pg_exception_hint;
      insert into single values (i.item->>'msg_id', v_code, v_message, nullif(v_detail, ''), nullif(v_hint, ''));
    end;
  end loop;
end $$;

select results_eq($$ select msg_id, code, message from single order by msg_id $$,
                  $$ select msg_id, error_code, error from batch order by msg_id $$,
  'the single raises each SQLSTATE and message the batch reports');
select is((select array_agg(error_code order by msg_id) from batch), array['WA001', '22023', '22P02'],
  'claim lost, a malformed reply, a memory_id that is no integer');
select results_eq($$ select detail, hint from single where code = 'WA001' $$,
  $$ values ('It is unknown, finished (done or dead), or its lease was taken over by another worker.',
             'Do not answer it: the worker holding the claim will.') $$,
  'a lost claim carries the DETAIL and HINT of WA001');
select is_empty($$ select detail, hint from single where code <> 'WA001' and (detail is not null or hint is not null) $$,
  'a rejected item carries no DETAIL or HINT');

create temp table done on commit drop as
select * from wapipe.complete_message((select msg_id from c where wamid = 'wamid.12'), 'worker-1',
                                      '{"type": "text", "text": {"body": "ok"}}');
select results_eq($$ select message_id, outbox_ids, processing_ms is not null from done $$,
  $$ select m.id, array[o.id], true from wapipe.processed_messages m join wapipe.outbox o on o.source_key = m.wamid
     where m.wamid = 'wamid.12' $$,
  'a done item returns the batch''s message id, outbox ids and processing time');
select * from finish();
rollback;
