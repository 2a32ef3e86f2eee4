-- On a big backlog the claim reads conversations_claim_idx in order: O(batch), no scan of the backlog.
begin;
select plan(3);
select wapipe_tests.reset();
-- Setup: 20 000 conversations with 5 messages each, written directly for speed
insert into wapipe.processed_messages (wamid, conversation_key, phone_number_id, from_wa_id, message_type,
                                       payload, wa_timestamp, priority, received_at)
select 'wamid.bulk.' || c || '.' || k, '300100200300400:2507' || lpad(c::text, 8, '0'), '300100200300400',
       '2507' || lpad(c::text, 8, '0'), 'text', '{}', now() - make_interval(secs => 100000 - c * 5 - k),
       (c % 10)::smallint, now() - make_interval(secs => 100000 - c * 5 - k)
from generate_series(1, 20000) c, generate_series(1, 5) k;
insert into wapipe.conversations (conversation_key, phone_number_id, wa_id)
select distinct conversation_key, phone_number_id, from_wa_id from wapipe.processed_messages;
select wapipe._release_conversation_leases(array_agg(conversation_key)) from wapipe.conversations;
analyze wapipe.conversations;
analyze wapipe.processed_messages;
-- Test: the claim statement's plan (the function's query, with the same parameters inlined)
create temp table plan on commit drop as
select jsonb_path_query_array(p, 'strict $.**."Index Name"') as idx,
       jsonb_path_query_array(p, 'strict $.** ? (@."Node Type" == "Seq Scan")."Relation Name"') as seq
from (select wapipe_tests.explain_claim(10) as p) e;
select ok((select idx @> '["conversations_claim_idx"]' from plan), 'reads conversations_claim_idx');
select ok((select not seq @> '["conversations"]' and not seq @> '["processed_messages"]' from plan),
  'no sequential scan of conversations or messages');
select is((select count(*) from wapipe.get_next_queue_message('worker-1', 30, 10)), 10::bigint,
  'claims a full batch from the backlog');
select * from finish();
rollback;
