"""Assessment (考核): rules, scores per unit per period, bulletins and the dispatch-meeting pack."""
