-- Only a text head going to an agent whose coalesce_seconds is above 0 opens a turn: without
-- coalescing, for a head that is not a text, and for a user in a workflow, burst is NULL and
-- the texts behind wait for their own turns.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1a', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'there', 'wamid.1b', '300100200300400', extract(epoch from now())::bigint - 59);
select wapipe_tests.enqueue_type('250700000002', 'image', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000002', 'see?', 'wamid.2b', '300100200300400', extract(epoch from now())::bigint - 59);
select wapipe_tests.enqueue_text('250700000003', 'two', 'wamid.3a', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000003', 'pizzas', 'wamid.3b', '300100200300400', extract(epoch from now())::bigint - 59);
select wapipe.start_workflow('250700000003', 'order', 'choose_item', '{"cart": []}');

create temp table d on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]');
select is((select count(*) from d where burst is null), 3::bigint, 'the default (no coalesce_seconds) opens no turn');
select wapipe.release_message_lock(m.queue_msg_id, 'worker-1') from wapipe.processed_messages m where m.status = 'processing';
select is((select count(*) from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 0}')
           where burst is null), 3::bigint,
  'coalesce_seconds 0: no turn opened');
select wapipe.release_message_lock(m.queue_msg_id, 'worker-1') from wapipe.processed_messages m where m.status = 'processing';

create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null, '{"waiter": 10}');
select results_eq($$ select from_wa_id, burst is null, coalesce(jsonb_array_length(burst), 0) from r order by from_wa_id $$,
  $$ values ('250700000001', false, 1), ('250700000002', true, 0), ('250700000003', true, 0) $$,
  'a text for the agent opens a turn; an image head and a user in a workflow do not');
select is((select count(*) from wapipe.processed_messages where turn_followers is not null), 1::bigint,
          'only the text head for an agent recorded followers');
select * from finish();
rollback;
