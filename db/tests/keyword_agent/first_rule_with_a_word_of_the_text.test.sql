-- keyword_agent: the first rule with a keyword among the text's words (\w runs, any case) wins.
begin;
select plan(10);
create temp table rules on commit drop as
select '[{"keywords": ["bill", "invoice"], "agent": "billing"},
         {"keywords": ["menu", "order"], "agent": "waiter"},
         {"keywords": ["Menú"], "agent": "spanish"}]'::jsonb as r;
select is(wapipe.keyword_agent('I want the MENU!', (select r from rules)), 'waiter', 'case and punctuation do not matter');
select is(wapipe.keyword_agent('menu and bill please', (select r from rules)), 'billing', 'the first matching rule wins, not the first word');
select is(wapipe.keyword_agent('order-now', (select r from rules)), 'waiter', 'a hyphen separates words');
select is(wapipe.keyword_agent('pay_bill', (select r from rules)), null, 'an underscore joins them: pay_bill is one word');
select is(wapipe.keyword_agent('menus', (select r from rules)), null, 'whole words only');
select is(wapipe.keyword_agent('¿Un menú?', (select r from rules)), 'spanish', 'letters beyond ASCII, lowercased');
select is(wapipe.keyword_agent('hello', (select r from rules)), null, 'no rule matches');
select is(wapipe.keyword_agent(null, (select r from rules)), null, 'no text');
select is(wapipe.keyword_agent('menu', '[]'), null, 'no rules');
select is(wapipe.keyword_agent('menu', '[{"keywords": "menu", "agent": "x"}, {"keywords": ["menu"], "agent": "waiter"}]'),
  'waiter', 'a rule without a keyword list matches nothing');
select * from finish();
rollback;
