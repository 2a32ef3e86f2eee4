-- A long-waiting low-priority head beats a fresh high-priority one (no starvation).
begin;
select plan(2);
select wapipe_tests.reset();
-- unsupported (0) vs interactive (8): 8 levels x 30 s = 240 s of aging
create temp table ids on commit drop as
select wapipe_tests.enqueue_type('250700000001', 'unsupported') as old_low,
       wapipe_tests.enqueue_type('250700000002', 'interactive') as fresh_high;
select wapipe_tests.age_message(old_low, '200 seconds') from ids;
select is((select q.message_id from wapipe.get_next_queue_message('worker-1', 30, 1) q),
  (select fresh_high from ids), 'after 200 s the high priority still goes first');
select wapipe_tests.reset();
truncate ids;
insert into ids select wapipe_tests.enqueue_type('250700000001', 'unsupported'),
                       wapipe_tests.enqueue_type('250700000002', 'interactive');
select wapipe_tests.age_message(old_low, '250 seconds') from ids;
select is((select q.message_id from wapipe.get_next_queue_message('worker-1', 30, 1) q),
  (select old_low from ids), 'after 250 s the old low-priority head goes first');
select * from finish();
rollback;
