-- admit_typing_indicator: an empty number is refused; the worker may call it, no other role.
begin;
select plan(4);
select throws_ok($$ select wapipe.admit_typing_indicator('', 'whatsapp-graph', 8, interval '100 ms') $$, '22023',
  'admit_typing_indicator: phone_number_id must not be empty', 'an empty number is refused');
select function_privs_are('wapipe', 'admit_typing_indicator', array['text', 'text', 'integer', 'interval'], r,
  case when r = 'wapipe_worker' then array['EXECUTE'] else array[]::text[] end,
  r || case when r = 'wapipe_worker' then ' may' else ' may not' end || ' call admit_typing_indicator')
from unnest(array['wapipe_worker', 'wapipe_ingress', 'wapipe_monitor']) r;
select * from finish();
rollback;
