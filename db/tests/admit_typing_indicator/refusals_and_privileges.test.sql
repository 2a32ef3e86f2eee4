-- admit_typing_indicator: an empty number or fewer than one token is refused; the worker may call it, no other role.
begin;
select plan(6);
select throws_ok($$ select wapipe.admit_typing_indicator('', 'whatsapp-graph', 8, interval '100 ms', 1) $$, '22023',
  'admit_typing_indicator: phone_number_id must not be empty', 'an empty number is refused');
select throws_ok($$ select wapipe.admit_typing_indicator('300100200300400', 'whatsapp-graph', 8, interval '100 ms', 0) $$,
  '22023', 'admit_typing_indicator: tokens must be at least 1, got 0', 'zero tokens is refused');
select throws_ok($$ select wapipe.admit_typing_indicator('300100200300400', 'whatsapp-graph', 8, interval '100 ms', null) $$,
  '22023', 'admit_typing_indicator: tokens must be at least 1, got NULL', 'NULL tokens is refused');
select function_privs_are('wapipe', 'admit_typing_indicator', array['text', 'text', 'integer', 'interval', 'integer'], r,
  case when r = 'wapipe_worker' then array['EXECUTE'] else array[]::text[] end,
  r || case when r = 'wapipe_worker' then ' may' else ' may not' end || ' call admit_typing_indicator')
from unnest(array['wapipe_worker', 'wapipe_ingress', 'wapipe_monitor']) r;
select * from finish();
rollback;
