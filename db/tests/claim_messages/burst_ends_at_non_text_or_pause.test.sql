-- A burst is the texts right behind the head, each sent at most coalesce_seconds after the
-- previous one: a non-text message ends it (it is its own turn later, in order), and so
-- does a longer pause.
begin;
select plan(3);
select wapipe_tests.reset();
-- user 1: text, text, image, text
select wapipe_tests.enqueue_text('250700000001', 'one', 'wamid.1a', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000001', 'two', 'wamid.1b', '300100200300400', extract(epoch from now())::bigint - 59);
select wapipe_tests.enqueue_type('250700000001', 'image', extract(epoch from now())::bigint - 58);
select wapipe_tests.enqueue_text('250700000001', 'three', 'wamid.1d', '300100200300400', extract(epoch from now())::bigint - 57);
-- user 2: text, then a text 30 s later
select wapipe_tests.enqueue_text('250700000002', 'one', 'wamid.2a', '300100200300400', extract(epoch from now())::bigint - 60);
select wapipe_tests.enqueue_text('250700000002', 'later', 'wamid.2b', '300100200300400', extract(epoch from now())::bigint - 30);

create temp table r on commit drop as
select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', array['waiter'], '[]', null, null,
                                    '{"waiter": 10}');
select results_eq($$ select wamid, (select array_agg(b->>'wamid') from jsonb_array_elements(burst) b) from r order by wamid $$,
  $$ values ('wamid.1a', array['wamid.1b']), ('wamid.2a', null) $$,
  'the image ends the first burst; the pause leaves the second head alone');
select is((select burst from r where wamid = 'wamid.2a'), '[]'::jsonb,
          'a head that opens a turn with nothing behind it has an empty burst');
select is((select turn_followers from wapipe.processed_messages where wamid = 'wamid.2a'), null,
          'nothing recorded on a turn of one');
select * from finish();
rollback;
