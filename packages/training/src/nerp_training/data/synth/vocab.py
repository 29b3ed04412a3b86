"""Word lists faker lacks: skills, job titles, degrees, and the prose around them.

English regardless of the faker locale: resumes in the target data are English, and
names, places, companies and phone numbers (which faker localises) carry the variety
the model has to generalise over.
"""

from __future__ import annotations

# fmt: off
SKILLS: tuple[str, ...] = (
    "Python", "Java", "JavaScript", "TypeScript", "C++", "C#", "Go", "Rust", "Kotlin", "Scala",
    "Ruby", "PHP", "Swift", "R", "MATLAB", "SQL", "PostgreSQL", "MySQL", "Oracle", "MongoDB",
    "Redis", "Cassandra", "Elasticsearch", "Kafka", "Spark", "Hadoop", "Airflow", "dbt",
    "Snowflake", "BigQuery", "Tableau", "Power BI", "Excel", "SAP", "Salesforce", "AWS",
    "Azure", "Google Cloud", "Docker", "Kubernetes", "Terraform", "Ansible", "Jenkins",
    "GitLab CI", "Git", "Linux", "Bash", "React", "Angular", "Vue.js", "Node.js", "Django",
    "Flask", "FastAPI", "Spring Boot", ".NET", "ASP.NET", "HTML", "CSS", "GraphQL",
    "REST APIs", "Microservices", "TensorFlow", "PyTorch", "scikit-learn", "Pandas", "NumPy",
    "Machine Learning", "Deep Learning", "NLP", "Computer Vision", "Data Analysis",
    "Statistics", "A/B Testing", "Selenium", "Cypress", "JUnit", "Agile", "Scrum", "JIRA",
    "Confluence", "ITIL", "SEO", "Google Analytics", "Figma", "Photoshop", "AutoCAD",
    "SolidWorks", "Six Sigma", "Lean", "Project Management", "Risk Management",
    "Financial Modeling", "Budgeting", "Accounting", "QuickBooks", "Payroll", "Recruiting",
    "Negotiation", "Public Speaking", "Customer Service", "Sales", "Market Research",
    "Content Writing", "Copywriting", "Team Leadership", "Stakeholder Management",
    "Supply Chain", "Inventory Management", "Logistics", "Networking", "Cisco",
    "Cybersecurity", "Penetration Testing", "SIEM", "Active Directory", "VMware", "SharePoint",
)

ROLES: tuple[str, ...] = (
    "Software Engineer", "Software Developer", "Backend Developer", "Frontend Developer",
    "Full Stack Developer", "Data Engineer", "Data Scientist", "Data Analyst",
    "Machine Learning Engineer", "DevOps Engineer", "Site Reliability Engineer",
    "Cloud Architect", "Solutions Architect", "QA Engineer", "Test Automation Engineer",
    "Business Analyst", "Product Manager", "Project Manager", "Program Manager",
    "Scrum Master", "UX Designer", "UI Designer", "Graphic Designer", "Technical Writer",
    "Systems Administrator", "Network Engineer", "Security Analyst", "Database Administrator",
    "IT Support Specialist", "Technical Support Engineer", "Sales Executive",
    "Account Manager", "Marketing Manager", "Digital Marketing Specialist", "HR Generalist",
    "Recruiter", "Financial Analyst", "Accountant", "Auditor", "Operations Manager",
    "Supply Chain Analyst", "Mechanical Engineer", "Civil Engineer", "Electrical Engineer",
    "Customer Success Manager", "Consultant", "Team Lead", "Engineering Manager",
    "Application Development Associate", "Research Scientist",
)

SENIORITY: tuple[str, ...] = ("Senior", "Lead", "Junior", "Principal", "Staff", "Associate")

DEGREES: tuple[str, ...] = (
    "B.Sc. in {field}", "M.Sc. in {field}", "Bachelor of Science in {field}",
    "Master of Science in {field}", "Bachelor of Engineering in {field}", "B.E in {field}",
    "B.Tech in {field}", "M.Tech in {field}", "Bachelor of Arts in {field}",
    "Master of Arts in {field}", "Ph.D. in {field}", "Diploma in {field}", "MBA", "BBA",
    "Master of Business Administration", "Bachelor of Commerce", "MCA", "BCA",
)

FIELDS: tuple[str, ...] = (
    "Computer Science", "Information Technology", "Electrical Engineering",
    "Mechanical Engineering", "Civil Engineering", "Electronics and Communication",
    "Mathematics", "Statistics", "Physics", "Economics", "Finance", "Marketing",
    "Business Administration", "Psychology", "Data Science", "Information Systems",
)

INSTITUTIONS: tuple[str, ...] = (
    "University of {city}", "{city} Institute of Technology", "{city} State University",
    "{last} College", "{last} University", "{city} College of Engineering",
    "National Institute of Technology, {city}", "{city} School of Business",
)

MONTHS: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)

BULLETS: tuple[str, ...] = (
    "Built data pipelines in {skill} and {skill2} processing {n} million records a day.",
    "Led a team of {small} engineers delivering features on time.",
    "Reduced infrastructure costs by {pct}% by moving workloads to {skill}.",
    "Designed and maintained services using {skill}.",
    "Automated release process with {skill}, cutting deployment time by {pct}%.",
    "Worked closely with stakeholders to gather requirements.",
    "Improved test coverage from {pct}% to {pct2}% using {skill}.",
    "Mentored {small} junior colleagues.",
    "Migrated legacy reports to {skill}.",
    "Handled customer escalations and resolved {n}+ tickets per month.",
    "Prepared monthly reports for senior management.",
    "Introduced {skill} and {skill2} to the team.",
    "Managed budgets of up to ${n} million.",
    "Developed dashboards in {skill} used by {n}00 users.",
    "Participated in code reviews and design discussions.",
    "Trained new hires on internal tools and {skill}.",
)

SUMMARIES: tuple[str, ...] = (
    "{title} with {years} of experience in {skill}, {skill2} and {skill3}.",
    "Results-driven {title} with {years} of experience building reliable systems.",
    "Experienced {title} ({years}) skilled in {skill} and {skill2}.",
    "{title} with {years} of professional experience. Strong background in {skill}.",
    "Motivated professional with {years} of experience, currently working as {title}.",
)

EXPERIENCE_HEADERS: tuple[str, ...] = (
    "EXPERIENCE", "WORK EXPERIENCE", "Professional Experience", "Employment History",
    "Work History",
)
EDUCATION_HEADERS: tuple[str, ...] = ("EDUCATION", "Education", "Academic Background")
SKILL_HEADERS: tuple[str, ...] = ("SKILLS", "Skills", "Technical Skills", "Key Skills")
SUMMARY_HEADERS: tuple[str, ...] = ("SUMMARY", "Summary", "Profile", "About Me")
# fmt: on
