-- _windows_close_at answers every key of a batch at once, one row per distinct key, as _window_closes_at answers each.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.inbound_ago('250700000001', '2 hours') as a \gset
select wapipe_tests.inbound_ago('250700000002', '30 hours') as b \gset

select is((select count(*)::int
           from wapipe._windows_close_at(array[wapipe_tests.conv('250700000001'),
                                               wapipe_tests.conv('250700000002'),
                                               wapipe_tests.conv('250700000001'),
                                               wapipe_tests.conv('250700000003'), null])),
  3, 'one row per distinct key (a repeated key once, NULL left out)');
select ok((select abs(extract(epoch from w.closes_at - (now() + interval '22 hours'))) < 2
           from wapipe._windows_close_at(array[wapipe_tests.conv('250700000001'),
                                               wapipe_tests.conv('250700000002')]) w
           where w.conversation_key = wapipe_tests.conv('250700000001')),
  'a message 2 h ago: closes 22 h from now');
select ok((select w.closes_at < now()
           from wapipe._windows_close_at(array[wapipe_tests.conv('250700000001'),
                                               wapipe_tests.conv('250700000002')]) w
           where w.conversation_key = wapipe_tests.conv('250700000002')),
  'a message 30 h ago: closed');
select is((select w.closes_at
           from wapipe._windows_close_at(array[wapipe_tests.conv('250700000003')]) w),
  null::timestamptz, 'a user who never wrote: NULL');
select is_empty($$ select * from wapipe._windows_close_at('{}') $$, 'no keys, no rows');

select * from finish();
rollback;
