-- The sample database that tests and the demo run against.
-- psql variables: analyst_password, app_rw_password, admin_password, legacy_md5_password.
\set ON_ERROR_STOP on

CREATE ROLE analyst LOGIN PASSWORD :'analyst_password';
CREATE ROLE app_rw LOGIN PASSWORD :'app_rw_password';
CREATE ROLE admin LOGIN CREATEROLE PASSWORD :'admin_password';
SET password_encryption = 'md5';
CREATE ROLE legacy_md5 LOGIN PASSWORD :'legacy_md5_password';
RESET password_encryption;

CREATE DATABASE app OWNER admin;
\connect app
SET ROLE admin;

CREATE SCHEMA sales;
CREATE SCHEMA hr;

CREATE TABLE sales.customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL,
  region text NOT NULL
);
CREATE TABLE sales.orders (
  id serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES sales.customers (id),
  amount numeric(12, 2) NOT NULL,
  status text NOT NULL DEFAULT 'open',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE hr.employees (
  id serial PRIMARY KEY,
  name text NOT NULL,
  department text NOT NULL,
  email text NOT NULL,
  ssn text NOT NULL,
  salary numeric(12, 2) NOT NULL
);

INSERT INTO sales.customers (name, email, region)
SELECT 'customer ' || g, 'customer' || g || '@example.com', (ARRAY['eu', 'us', 'ap'])[1 + g % 3]
FROM generate_series(1, 50) AS g;
INSERT INTO sales.orders (customer_id, amount, status)
SELECT 1 + g % 50, (g * 7.5)::numeric(12, 2), (ARRAY['open', 'shipped', 'paid'])[1 + g % 3]
FROM generate_series(1, 500) AS g;
INSERT INTO hr.employees (name, department, email, ssn, salary) VALUES
  ('Alice Analyst', 'analytics', 'alice@example.com', '123-45-6789', 98000),
  ('Bob Engineer', 'engineering', 'bob@example.com', '234-56-7890', 120000),
  ('Carol Admin', 'it', 'carol@example.com', '345-67-8901', 135000),
  ('Dave HR', 'hr', 'dave@example.com', '456-78-9012', 87000);

GRANT USAGE ON SCHEMA sales, hr TO analyst, app_rw, legacy_md5;
GRANT SELECT ON ALL TABLES IN SCHEMA sales TO analyst, legacy_md5;
GRANT SELECT ON ALL TABLES IN SCHEMA hr TO analyst;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA sales TO app_rw;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA sales TO app_rw;
GRANT SELECT ON ALL TABLES IN SCHEMA hr TO app_rw;
RESET ROLE;
