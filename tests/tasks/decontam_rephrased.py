"""Test data: hand-written rephrasings of real benchmark problems (decontamination recall).

Each entry rewords one problem of `../shared/data/benchmarks` (wording, order and sentence
structure changed; the mathematics kept: numbers, expressions, the answer), so the copies
share almost no 13-grams with the original. `item` is the `benchmark_item` id the
decontaminate stage gives that problem: the file's id field, else the 1-based line number.
Only these short derived texts are committed, never the benchmark files. The MATH-500 block
(`change`) trades LaTeX for plain text (`\frac{a}{b}` -> a/b, `\left|` -> |, `x^{2}` -> x^2),
reorders clauses and renames variables (issue 12 item 5).
"""

from __future__ import annotations

REPHRASED: list[dict] = [
    # --- GSM8K test (item = 1-based line number) ---------------------------------------
    dict(benchmark="gsm8k", item="1", answer="18", text=(
        "Every day, the ducks owned by Janet produce 16 eggs. Each morning she has three of them "
        "for breakfast, and she uses four more daily to bake muffins for her friends. Whatever eggs "
        "are left she sells at the farmers' market, charging $2 for each one. What are her daily "
        "earnings at the market, in dollars?")),
    dict(benchmark="gsm8k", item="8", answer="160", text=(
        "A 200 GB file is being downloaded by Carla at her usual rate of 2 GB per minute. When the "
        "download is 40% complete, Windows makes her computer restart for updates, and the restart "
        "lasts 20 minutes. Afterwards she must begin the download again from zero. In total, how "
        "long does getting the file take?")),
    dict(benchmark="gsm8k", item="20", answer="6", text=(
        "Marissa sets out on a trail that is 12 miles long. The first 4 miles take her 1 hour, and "
        "covering the next two miles takes one more hour. For her average over the whole trail to "
        "come out at 4 miles per hour, how fast, in miles per hour, must she go for the rest of "
        "the way?")),
    dict(benchmark="gsm8k", item="43", answer="26", text=(
        "For the firemen's luncheon, Grandma Jones made 5 apple pies and sliced every pie into 8 "
        "pieces, putting all five out on the buffet for guests to help themselves. When the evening "
        "was over, 14 pieces of pie were left. How many pieces did the guests take?")),
    dict(benchmark="gsm8k", item="102", answer="6", text=(
        "Solo's reading list: 4 pages of Science, 20 pages of Social Studies, 7 pages of History "
        "and 8 pages of Geography. He got through 15 pages on Monday. With 4 days left to finish "
        "everything, how many pages per day must he read on average?")),
    dict(benchmark="gsm8k", item="231", answer="276000", text=(
        "For his company, Mark purchases 12 cars, each priced at $20,000. On top of the price he "
        "pays a 10% tax on the cars, plus a $1000 registration fee for every car. What is the "
        "total amount he pays?")),
    dict(benchmark="gsm8k", item="378", answer="50", text=(
        "Lucy charges $4 for each apple from her orchard. Every apple picked on Monday was sold "
        "that day. She picked 12 apples on Tuesday, and on Wednesday she picked twice as many as "
        "on Tuesday. Given that the Monday apples brought in $56, what is the total number of "
        "apples she picked over those three days?")),
    dict(benchmark="gsm8k", item="513", answer="120", text=(
        "For every kilometer she runs, Hannah has to drink 60 ml of water. Her gym teacher asks "
        "her to run 8 laps, each lap being 0.25 km long. How much water, in milliliters, must she "
        "drink?")),
    dict(benchmark="gsm8k", item="801", answer="428", text=(
        "In a single bowling game Pierson got 278 points. Nikita's score was 11 points above half "
        "of Pierson's. What is the combined total of their points?")),
    dict(benchmark="gsm8k", item="1201", answer="8", text=(
        "If you take the number of coffee mugs in the teachers' lounge, multiply it by four and "
        "add eight, you get 40. How many mugs are in the lounge?")),
    dict(benchmark="gsm8k", item="4", answer="540", text=(
        "Three times a week, James runs 3 sprints, and each sprint is 60 meters long. How many "
        "meters does he run in a week altogether?")),
    dict(benchmark="gsm8k", item="61", answer="17", text=(
        "Out of 25 oranges in a basket, 1 is bad, 20% are not yet ripe, 2 taste sour, and all the "
        "others are good. How many good oranges are there?")),
    dict(benchmark="gsm8k", item="601", answer="10", text=(
        "At the gym, Jamaal has been lifting an 8-pound weight. He raises the weight by 50%, but "
        "that proves too heavy, so he switches to one that is two pounds lighter than the "
        "increased weight. How many pounds does the weight he uses now weigh?")),
    dict(benchmark="gsm8k", item="151", answer="4", text=(
        "Steve and Tim race home from school. Since Steve lives farther away, he gets to ride his "
        "bike: his home is 3 miles from school and he bikes at 440 feet per minute. Tim's home is "
        "2 miles from school and he rides a skateboard at 264 feet per minute. Once the winner gets "
        "home, how many minutes does he wait until the loser arrives?")),
    dict(benchmark="gsm8k", item="16", answer="125", text=(
        "A merchant is choosing between two purchases: $5,000 of jewelry or $8,000 of electronic "
        "gadgets. According to his financial advisor, over the same month the jewelry market "
        "should rise 2.5% and the gadgets market 1.2%. If he picks whichever option maximizes his "
        "profit by month's end, what profit would he make?")),
    dict(benchmark="gsm8k", item="1001", answer="1", text=(
        "Doctor Jones will be at the clinic for nine hours on Monday. Checking on each inpatient "
        "takes twenty minutes, and he also has ten appointments of thirty minutes each. With 9 "
        "inpatients at the clinic, how many hours remain for him to update his records?")),
    # --- MATH-500 (item = unique_id) -----------------------------------------------------
    dict(benchmark="math500", item="test/number_theory/572.json", answer="9", text=(
        "Count the positive integer divisors of the number 196.")),
    dict(benchmark="math500", item="test/counting_and_probability/666.json", answer="225", text=(
        "Near Athens, a unit of the Greek army has 5 upper-class soldiers and 10 lower-class "
        "soldiers. To fight at Thermopylae, a force of 4 upper-class and 8 lower-class soldiers "
        "must be sent. How many different battalions could be formed?")),
    dict(benchmark="math500", item="test/algebra/769.json", answer="11", text=(
        "If the first $N$ odd positive integers add up to 121, find $N$.")),
    dict(benchmark="math500", item="test/precalculus/1291.json", answer="1 - 12i", text=(
        "The complex number $3$ is rotated clockwise by $90^\\circ$ about the point $-4 - 5i$. "
        "Which complex number results?")),
    dict(benchmark="math500", item="test/precalculus/1252.json", answer="1", text=(
        "Suppose $\\omega$ satisfies $\\omega^3 = 1$. Determine every possible value of "
        "$\\frac{1}{1+\\omega} + \\frac{1}{1+\\omega^2}$, listing them separated by commas.")),
    dict(benchmark="math500", item="test/intermediate_algebra/776.json", answer="3", text=(
        "Write $\\sqrt[3]{2}$ as the continued fraction "
        "$a + \\cfrac{1}{b + \\cfrac{1}{c + \\cfrac{1}{d + \\dotsb}}}$ with positive integers "
        "$a, b, c, d$. What is $b$?")),
    dict(benchmark="math500", item="test/intermediate_algebra/128.json", answer="\\text{even}", text=(
        "Given an odd function $f(x)$ and an even function $g(x)$, decide whether "
        "$f(f(g(f(g(f(x))))))$ is even, odd, or neither. Answer with \"odd\", \"even\", or "
        "\"neither\".")),
    dict(benchmark="math500", item="test/number_theory/1032.json", answer="2220", text=(
        "Find the smallest positive multiple of 30 whose decimal digits are all 0s and 2s.")),
    dict(benchmark="math500", item="test/geometry/178.json", answer="2", text=(
        "Triangle $ABC$ has a right angle at $B$ and satisfies $\\sin A = 2\\cos A$. Find "
        "$\\tan A$.")),
    dict(benchmark="math500", item="test/prealgebra/2086.json", answer="40", text=(
        "Suppose 7 yaps are worth 4 daps and 3 baps are worth 5 yaps. How many daps are "
        "equivalent to 42 baps?")),
    dict(benchmark="math500", item="test/precalculus/580.json", answer="120^\\circ", text=(
        "Given the points $A = (1,-11,2)$, $B = (3,-4,1)$ and $C = (-2,1,-1)$, find the measure "
        "of angle $ABC$ in degrees.")),
    dict(benchmark="math500", item="test/precalculus/625.json",
         answer="\\begin{pmatrix} 16/49 \\\\ 48/49 \\\\ 24/49 \\end{pmatrix}", text=(
        "Given $\\mathbf{b} = \\begin{pmatrix} 2 \\\\ 6 \\\\ 3 \\end{pmatrix}$ and "
        "$\\mathbf{a} \\cdot \\mathbf{b} = 8$, compute the projection of $\\mathbf{a}$ onto "
        "$\\mathbf{b}$.")),
    # --- AIME 2024 / 2025 (item = id field) ----------------------------------------------
    dict(benchmark="aime24", item="60", answer="204", text=(
        "Each morning Aya walks $9$ kilometers and then stops at a coffee shop. Walking at a "
        "steady $s$ km/h, the whole outing lasts 4 hours, counting the $t$ minutes she spends at "
        "the coffee shop. At $s+2$ km/h, it lasts 2 hours and 24 minutes, again including the $t$ "
        "minutes in the shop. How many minutes does the outing take, coffee shop time included, "
        "if she walks at $s+\\frac{1}{2}$ km/h?")),
    dict(benchmark="aime24", item="67", answer="25", text=(
        "Real numbers $x$ and $y$, each larger than 1, satisfy "
        "$\\log_x(y^x) = \\log_y(x^{4y}) = 10$. Compute the product $xy$.")),
    dict(benchmark="aime24", item="72", answer="540", text=(
        "Let $z$ be a complex number of modulus $4$. Determine the maximum possible real part of "
        "$(75+117i)z + \\frac{96+144i}{z}$.")),
    dict(benchmark="aime24", item="63", answer="385", text=(
        "Let $f(x)=||x|-\\tfrac{1}{2}|$ and $g(x)=||x|-\\tfrac{1}{4}|$. How many points of "
        "intersection do the graphs $y=4g(f(\\sin(2\\pi x)))$ and $x=4g(f(\\cos(3\\pi y)))$ have?")),
    dict(benchmark="aime25", item="0", answer="70", text=(
        "Determine the sum of every integer base $b > 9$ such that $17_b$ divides $97_b$.")),
    dict(benchmark="aime25", item="2", answer="16", text=(
        "After a game, the $9$ players on a baseball team each got one scoop of ice cream: "
        "chocolate, vanilla, or strawberry. Every flavor was picked by at least one player, more "
        "players picked chocolate than vanilla, and more picked vanilla than strawberry. If $N$ "
        "counts the flavor assignments satisfying these conditions, what is $N$ modulo $1000$?")),
    dict(benchmark="aime25", item="5", answer="504", text=(
        "A circle of radius $3$ is inscribed in an isosceles trapezoid, touching all four sides, "
        "and the trapezoid's area is $72$. The two parallel sides have unequal lengths $r$ and "
        "$s$. Compute $r^2 + s^2$.")),
    dict(benchmark="aime25", item="14", answer="735", text=(
        "Count the ordered triples $(a,b,c)$ of positive integers with $a, b, c \\le 3^6$ for "
        "which $3^7$ divides $a^3+b^3+c^3$; call this count $N$. What is the remainder of $N$ upon "
        "division by $1000$?")),
    # --- AMC 2023 (item = id field) ------------------------------------------------------
    dict(benchmark="amc23", item="0", answer="27", text=(
        "Alicia lives in city $A$ and Beth in city $B$, $45$ miles away. They start biking toward "
        "each other at the same moment, Alicia at 18 mph and Beth at 12 mph. At what distance "
        "from city $A$ do they meet?")),
    dict(benchmark="amc23", item="4", answer="36", text=(
        "Every player in a table tennis tournament played every other player exactly once. "
        "Right-handed players were twice as numerous as left-handed ones, yet left-handers won "
        "$40\\%$ more games than right-handers did. With no ties and no ambidextrous players, how "
        "many games were played in all?")),
    dict(benchmark="amc23", item="11", answer="4", text=(
        "$\\frac{1}{3}$ of a large pizza plus $3 \\frac{1}{2}$ cups of orange slices weighs as "
        "much as $\\frac{3}{4}$ of a large pizza plus $\\frac{1}{2}$ cup of orange slices. Each "
        "cup of orange slices weighs $\\frac{1}{4}$ pound. If the pizza's weight in pounds is "
        "$\\frac{m}{n}$ with $m$ and $n$ relatively prime positive integers, find $m-n$.")),
    dict(benchmark="amc23", item="17", answer="-1", text=(
        "Some unique integer sequence $a_1, a_2, \\ldots, a_{2023}$ makes the identity "
        "\\[\\tan 2023x = \\frac{a_1\\tan x + a_3\\tan^3 x + \\cdots + a_{2023}\\tan^{2023}x}"
        "{1 + a_2\\tan^2 x + a_4 \\tan^4 x + \\cdots + a_{2022}\\tan^{2022}x}\\] hold for every "
        "$x$ where $\\tan 2023x$ exists. Find $a_{2023}$.")),
    # --- OlympiadBench and Minerva (item = id / idx field) -------------------------------
    dict(benchmark="olympiadbench", item="2203", answer=None, text=(
        "Determine every triple $(a,b,c)$ of real numbers satisfying $ab+bc+ca=1$ together with "
        "$a^2b + c = b^2c + a = c^2a + b$.")),
    dict(benchmark="olympiadbench", item="1854", answer="2n", text=(
        "For a positive integer $n$, find the least positive integer $k$ such that one can mark "
        "$k$ cells of a $2n \\times 2n$ board in such a way that the board has exactly one "
        "partition into $1\\times 2$ and $2\\times 1$ dominoes with no domino containing two "
        "marked cells.")),
    dict(benchmark="minerva_math", item="100", answer="m", text=(
        "Assume the exponential function $e^{-t/2}\\cos(3t)$ solves the differential equation "
        "$m\\ddot{x} + b\\dot{x} + kx = 0$. Express $b$ as a constant multiple of a function "
        "of $m$.")),
    # --- MATH-500, notation changed (LaTeX -> plain text), clauses reordered, variables renamed
    dict(benchmark="math500", item="test/intermediate_algebra/991.json", answer="3", change="notation, rename", text=(
        "Let p and q be integers with 3p + 4q = 100. What is the least possible value of |p - q|?")),
    dict(benchmark="math500", item="test/precalculus/43.json", answer="(15,-29)", change="notation, reorder", text=(
        "At t = 2, which point does the curve (x, y) = (t^3 + 7, -3t^2 - 6t - 5) pass through?")),
    dict(benchmark="math500", item="test/algebra/2023.json", answer="1", change="notation, reorder", text=(
        "What is the smallest integer x for which f(x) = sqrt(x-1)/(x-2) takes a real value?")),
    dict(benchmark="math500", item="test/number_theory/255.json", answer="4", change="notation, reorder", text=(
        "Write 137/500 as a decimal. What is its last nonzero digit to the right of the decimal point?")),
    dict(benchmark="math500", item="test/number_theory/1000.json", answer="44", change="notation", text=(
        "Find the inverse of 17 modulo 83, as a residue between 0 and 82 inclusive. (Hint: 17 * 5 = 85.)")),
    dict(benchmark="math500", item="test/intermediate_algebra/47.json", answer="(-2,1)", change="notation, rename",
         text=("Take g(x) = x^3 + 3x^2 + 1. Real numbers p != 0 and q exist such that g(x) - g(p) = "
               "(x - p)^2 (x - q). Give the ordered pair (p, q).")),
    dict(benchmark="math500", item="test/number_theory/911.json", answer="3", change="notation, reorder", text=(
        "Let n be the remainder, with 0 <= n < 9, of 1 + 12 + 123 + 1234 + 12345 + 123456 + 1234567 + "
        "12345678 when divided by 9. Find n.")),
    dict(benchmark="math500", item="test/intermediate_algebra/1388.json", answer="1,-2", change="notation, rename",
         text=("A function g satisfies g(a) + g(b) = g(a + b) - ab - 1 for all real a and b, and g(1) = 1. "
               "Find every integer n with g(n) = n, separated by commas.")),
    dict(benchmark="math500", item="test/intermediate_algebra/1992.json", answer="(0,9) \\cup (9,36)",
         change="notation", text="Solve the inequality |x^2 - 81| / (x^2 - 36x) < 0."),
    dict(benchmark="math500", item="test/number_theory/1065.json", answer="17", change="reorder, rename", text=(
        "There is exactly one odd integer s with 0 < s < 23 for which s + 2 is the inverse of s modulo 23. "
        "Find s.")),
    dict(benchmark="math500", item="test/algebra/988.json", answer="11", change="notation", text=(
        "Solve for x: 2/3 = 4/(x - 5).")),
    dict(benchmark="math500", item="test/intermediate_algebra/1350.json", answer="14", change="notation, rename",
         text=("A polynomial g(x) = c_n x^n + c_(n-1) x^(n-1) + ... + c_2 x^2 + c_1 x + c_0 has integer "
               "coefficients and distinct integer roots. If c_n = 2 and c_0 = 66, what is the least possible "
               "value of |c_(n-1)|?")),
    dict(benchmark="math500", item="test/precalculus/285.json", answer="6", change="notation, reorder", text=(
        "All roots of z^4 + z^2 + 1 = 0 are n-th roots of unity for some positive integers n. What is the "
        "smallest such n?")),
    dict(benchmark="math500", item="test/algebra/24.json", answer="2000", change="reorder, wording", text=(
        "A person's daily caloric requirement is met by how many calories, given that a snack-size tin "
        "of peaches holds 40 calories, which is 2% of that requirement?")),
]
