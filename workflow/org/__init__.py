"""The organisation around the work: units, people with their roles and ranks, who acts
(``Actor``), and the inspections and plans (整改方案) the issues belong to."""
